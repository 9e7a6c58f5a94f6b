import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@sluice/log';
import type { Partition } from './partition.js';

/** One file per data directory holds the producer state of every partition at a clean stop. */
export const PRODUCER_SNAPSHOTS_FILE = 'sluice-producer-snapshots.json';
const MAX_SNAPSHOT_FILE_BYTES = 512 << 20;

/** A partition's producer state and the log end offset it was taken at. */
export interface ProducerSnapshot {
  offset: bigint;
  producers: unknown;
  /** The partition's open and aborted transactions (absent in snapshots of older versions). */
  txns?: unknown;
}

/**
 * Reads and removes the snapshots of the last clean stop, keyed `<topic>-<partition>`. A snapshot
 * is trusted once: after this start the logs move on, so the file must not outlive it. A file
 * that cannot be read yields no snapshots (the partitions then rebuild from their logs).
 */
export function takeProducerSnapshots(dataDir: string): Map<string, ProducerSnapshot> {
  const file = join(dataDir, PRODUCER_SNAPSHOTS_FILE);
  const out = new Map<string, ProducerSnapshot>();
  if (!existsSync(file)) return out;
  try {
    const text = readFileSync(file);
    if (text.length <= MAX_SNAPSHOT_FILE_BYTES) {
      const data = JSON.parse(text.toString('utf8')) as Record<
        string,
        { offset: string; producers: unknown; txns?: unknown }
      >;
      for (const [key, s] of Object.entries(data)) {
        out.set(key, { offset: BigInt(s.offset), producers: s.producers, txns: s.txns });
      }
    }
  } catch {
    out.clear();
  }
  rmSync(file, { force: true });
  return out;
}

/** Writes the producer state of every partition (at a clean stop, after the last append). */
export function saveProducerSnapshots(dataDir: string, partitions: Iterable<Partition>): void {
  const data: Record<string, { offset: string; producers: unknown; txns: unknown }> = {};
  for (const p of partitions) {
    if (p.producers.size === 0) continue;
    data[`${p.topic}-${p.index}`] = {
      offset: p.log.logEndOffset.toString(),
      producers: p.producers.toJSON(),
      txns: p.txns.toJSON(),
    };
  }
  writeFileAtomic(join(dataDir, PRODUCER_SNAPSHOTS_FILE), JSON.stringify(data));
}
