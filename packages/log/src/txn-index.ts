import fs from 'node:fs';
import { LogStorageError } from './errors.js';

/**
 * Kafka's transaction index (`<base offset>.txnindex` beside a segment, TransactionIndex.java):
 * one 34-byte entry per aborted transaction whose abort marker is in the segment — version int16
 * (0), producer id int64, first offset int64, last offset (the marker) int64, last stable offset
 * int64. read_committed fetches learn from it which records to skip.
 */
export interface AbortedTxnEntry {
  producerId: bigint;
  firstOffset: bigint;
  lastOffset: bigint;
  lastStableOffset: bigint;
}

export const TXN_INDEX_ENTRY_BYTES = 34;
const VERSION = 0;
/** A bound on one file's entries (34 MiB): far beyond the aborts of one segment. */
const MAX_ENTRIES_PER_FILE = 1_000_000;

export function encodeTxnIndexEntry(e: AbortedTxnEntry): Buffer {
  const b = Buffer.alloc(TXN_INDEX_ENTRY_BYTES);
  b.writeInt16BE(VERSION, 0);
  b.writeBigInt64BE(e.producerId, 2);
  b.writeBigInt64BE(e.firstOffset, 10);
  b.writeBigInt64BE(e.lastOffset, 18);
  b.writeBigInt64BE(e.lastStableOffset, 26);
  return b;
}

/** Appends one entry (the file is created on the first). */
export function appendTxnIndexEntry(file: string, e: AbortedTxnEntry): void {
  fs.appendFileSync(file, encodeTxnIndexEntry(e));
}

/**
 * The entries of a transaction index, in file order; none when the file does not exist. A torn
 * last entry (a crash mid-append) is left out; an unknown version is a LogStorageError naming the place.
 */
export function readTxnIndex(file: string): AbortedTxnEntry[] {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const count = Math.floor(buf.length / TXN_INDEX_ENTRY_BYTES);
  if (count > MAX_ENTRIES_PER_FILE) throw new LogStorageError(file, 0, `${count} transaction index entries`);
  const out: AbortedTxnEntry[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * TXN_INDEX_ENTRY_BYTES;
    const version = buf.readInt16BE(at);
    if (version !== VERSION) throw new LogStorageError(file, at, `unknown transaction index entry version ${version}`);
    out.push({
      producerId: buf.readBigInt64BE(at + 2),
      firstOffset: buf.readBigInt64BE(at + 10),
      lastOffset: buf.readBigInt64BE(at + 18),
      lastStableOffset: buf.readBigInt64BE(at + 26),
    });
  }
  return out;
}

/** Drops the entries whose marker is at or after `offset` (a truncated segment), and a torn tail. */
export function truncateTxnIndex(file: string, offset: bigint): void {
  if (!fs.existsSync(file)) return;
  const keep = readTxnIndex(file).filter((e) => e.lastOffset < offset);
  const bytes = keep.length * TXN_INDEX_ENTRY_BYTES;
  if (fs.statSync(file).size === bytes) return;
  fs.truncateSync(file, bytes);
}
