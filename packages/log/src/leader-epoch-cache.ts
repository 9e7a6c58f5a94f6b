import path from 'node:path';
import { readCheckpointFile, writeCheckpointFile } from './checkpoint.js';
import { LogStorageError } from './errors.js';

export const LEADER_EPOCH_CHECKPOINT = 'leader-epoch-checkpoint';
export const UNDEFINED_EPOCH = -1;
export const UNDEFINED_EPOCH_OFFSET = -1n;

export interface EpochEntry {
  epoch: number;
  startOffset: bigint;
}

/**
 * Leader epoch -> first offset written in it, persisted in `leader-epoch-checkpoint` (Kafka's
 * text format: `epoch startOffset` lines). Entries increase in both fields.
 */
export class LeaderEpochCache {
  private entries: EpochEntry[] = [];
  readonly file: string;

  constructor(dir: string) {
    this.file = path.join(dir, LEADER_EPOCH_CHECKPOINT);
    for (const [e, o] of readCheckpointFile(this.file, 2)) {
      const epoch = Number(e);
      if (!Number.isInteger(epoch) || epoch < 0 || !/^\d+$/.test(o)) {
        throw new LogStorageError(this.file, 0, `bad entry "${e} ${o}"`);
      }
      this.entries.push({ epoch, startOffset: BigInt(o) });
    }
  }

  all(): readonly EpochEntry[] {
    return this.entries;
  }

  latestEpoch(): number {
    return this.entries.length === 0 ? UNDEFINED_EPOCH : this.entries[this.entries.length - 1].epoch;
  }

  /** Records that `epoch` starts at `startOffset`; entries it contradicts are dropped. */
  assign(epoch: number, startOffset: bigint): void {
    if (epoch < 0) return;
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined && last.epoch === epoch) return;
    if (last !== undefined && last.epoch > epoch && last.startOffset <= startOffset) return;
    this.entries = this.entries.filter((x) => x.epoch < epoch && x.startOffset < startOffset);
    this.entries.push({ epoch, startOffset });
    this.persist();
  }

  /**
   * OffsetForLeaderEpoch: the largest epoch <= `requested` and the end offset of that epoch (the
   * start of the next one, or the log end offset for the latest epoch).
   */
  endOffsetFor(requested: number, logEndOffset: bigint): { epoch: number; endOffset: bigint } {
    if (requested === UNDEFINED_EPOCH || this.entries.length === 0) {
      return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    }
    if (requested === this.latestEpoch()) return { epoch: requested, endOffset: logEndOffset };
    const higher = this.entries.findIndex((x) => x.epoch > requested);
    if (higher < 0) return { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };
    if (higher === 0) return { epoch: requested, endOffset: this.entries[0].startOffset };
    return { epoch: this.entries[higher - 1].epoch, endOffset: this.entries[higher].startOffset };
  }

  /**
   * On opening the log: forget epochs that start past its end (records a crash lost). One that
   * starts exactly at the end stays: a leader that has appended nothing yet, recorded at
   * leadership; dropping it made every start rewrite (and fsync) the checkpoint of every such
   * partition, twice, as leadership recorded it again.
   */
  truncatePastEnd(endOffset: bigint): void {
    this.truncateFromEnd(endOffset + 1n);
  }

  /** After truncating the log to `endOffset`: forget epochs that start at or after it. */
  truncateFromEnd(endOffset: bigint): void {
    const kept = this.entries.filter((x) => x.startOffset < endOffset);
    if (kept.length !== this.entries.length) {
      this.entries = kept;
      this.persist();
    }
  }

  /** After the log start moved to `startOffset`: the epoch covering it now starts there. */
  truncateFromStart(startOffset: bigint): void {
    let i = 0;
    while (i + 1 < this.entries.length && this.entries[i + 1].startOffset <= startOffset) i++;
    const first = this.entries[i];
    if (first === undefined || (i === 0 && first.startOffset >= startOffset)) return;
    this.entries = [
      { epoch: first.epoch, startOffset: first.startOffset < startOffset ? startOffset : first.startOffset },
      ...this.entries.slice(i + 1),
    ];
    this.persist();
  }

  clear(): void {
    this.entries = [];
    this.persist();
  }

  private persist(): void {
    writeCheckpointFile(
      this.file,
      this.entries.map((x) => `${x.epoch} ${x.startOffset}`),
    );
  }
}
