import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PartitionLog } from './partition-log.js';
import { makeValueBatch } from './test-batch.js';
import { removeTestRoots, testRoot } from './test-dirs.js';
import { appendTxnIndexEntry, readTxnIndex, TXN_INDEX_ENTRY_BYTES, truncateTxnIndex } from './txn-index.js';

afterAll(removeTestRoots);
const quiet = { info() {}, warn() {}, error() {} };
const entry = (producerId: bigint, firstOffset: bigint, lastOffset: bigint) => ({
  producerId,
  firstOffset,
  lastOffset,
  lastStableOffset: lastOffset + 1n,
});

describe('transaction index (.txnindex)', () => {
  it("writes Kafka's 34-byte entries and reads them back; a torn tail is left out", () => {
    const file = path.join(testRoot('txnindex'), '00000000000000000000.txnindex');
    appendTxnIndexEntry(file, entry(7n, 0n, 4n));
    appendTxnIndexEntry(file, entry(8n, 5n, 9n));
    const bytes = fs.readFileSync(file);
    expect(bytes.length).toBe(2 * TXN_INDEX_ENTRY_BYTES);
    // version 0, then producer id 7, first offset 0, last offset 4, last stable offset 5
    expect(bytes.subarray(0, 34).toString('hex')).toBe(
      `0000${'0000000000000007'}${'0000000000000000'}${'0000000000000004'}${'0000000000000005'}`,
    );
    fs.appendFileSync(file, Buffer.alloc(10));
    expect(readTxnIndex(file)).toEqual([entry(7n, 0n, 4n), entry(8n, 5n, 9n)]);
    truncateTxnIndex(file, 9n);
    expect(readTxnIndex(file)).toEqual([entry(7n, 0n, 4n)]);
    expect(fs.statSync(file).size).toBe(TXN_INDEX_ENTRY_BYTES);
  });

  it('refuses an unknown entry version with an error naming the file and byte', () => {
    const file = path.join(testRoot('txnindex-bad'), '00000000000000000000.txnindex');
    appendTxnIndexEntry(file, entry(1n, 0n, 1n));
    const b = fs.readFileSync(file);
    b.writeInt16BE(3, 0);
    fs.writeFileSync(file, b);
    expect(() => readTxnIndex(file)).toThrow(
      /00000000000000000000\.txnindex at byte 0: unknown transaction index entry version 3/,
    );
  });

  it('lives beside its segment: kept across reopen, truncated with it, deleted with it', () => {
    const dir = path.join(testRoot('txnindex-log'), 't-0');
    const open = () => PartitionLog.open(dir, { io: 'fd', logger: quiet, segmentBytes: 200 });
    let log = open();
    log.append(makeValueBatch(3, 100)); // 0-2
    log.append(makeValueBatch(3, 100)); // 3-5, a new segment at 3
    log.appendAbortedTxn(entry(1n, 0n, 1n));
    log.appendAbortedTxn(entry(2n, 3n, 4n));
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.txnindex'));
    expect(files).toEqual(['00000000000000000000.txnindex', '00000000000000000003.txnindex']);
    log.close();
    log = open();
    expect(log.abortedTxns()).toEqual([entry(1n, 0n, 1n), entry(2n, 3n, 4n)]);
    log.truncateTo(3n);
    expect(log.abortedTxns()).toEqual([entry(1n, 0n, 1n)]);
    expect(fs.existsSync(path.join(dir, '00000000000000000003.txnindex'))).toBe(false);
    log.close();
  });
});
