import { ERROR_CODES } from '@sluice/protocol';
import { type PersistedShareState, type PersistedStateBatch, RECORD_STATE } from './share-partition.js';
import {
  decodeShareSnapshotKey,
  decodeShareSnapshotValue,
  encodeShareSnapshotKey,
  encodeShareSnapshotValue,
  type ShareSnapshotKey,
  type ShareSnapshotValue,
  shareStatePartition,
} from './share-records.js';

const E = ERROR_CODES;
/** A bound on state batches one write may carry (each covers at least one in-flight offset). */
const MAX_WRITE_BATCHES = 100_000;

/** A record for `__share_group_state`: a snapshot, or a tombstone (value null). */
export interface ShareStateRecord {
  key: Buffer;
  value: Buffer | null;
}

/** Appends records to a `__share_group_state` partition; resolves once they are durable (acks=all in a cluster). */
export type ShareStateAppend = (statePartition: number, records: ShareStateRecord[]) => Promise<void>;

export interface ShareStateResult {
  errorCode: number;
  errorMessage: string | null;
}

export interface ShareStateRead extends ShareStateResult {
  stateEpoch: number;
  leaderEpoch: number;
  startOffset: bigint;
  stateBatches: PersistedStateBatch[];
  /**
   * ReadShareGroupStateSummary (v1, KIP-1226): offsets from the start offset on whose delivery is complete
   * (acknowledged or archived); -1 when unknown.
   */
  deliveryCompleteCount?: number;
}

/** A read that found no state: its error, with the fields Kafka answers beside one. */
export function noShareState(r: ShareStateResult): ShareStateRead {
  return {
    errorCode: r.errorCode,
    errorMessage: r.errorMessage,
    stateEpoch: -1,
    leaderEpoch: -1,
    startOffset: -1n,
    stateBatches: [],
  };
}

export interface ShareStateWrite extends PersistedShareState {
  leaderEpoch: number;
}

export interface ShareStateCoordinatorOptions {
  /** Partitions of `__share_group_state` (share.coordinator.state.topic.num.partitions, or the topic's count). */
  numPartitions: () => number;
  append: ShareStateAppend;
  now?: () => number;
}

const OK: ShareStateResult = { errorCode: E.NONE, errorMessage: null };

/**
 * Kafka's share coordinator (KIP-932): the owner of the share-partition states kept in the
 * `__share_group_state` partitions this broker leads. Partition leaders read and write a share-partition's
 * state through it (Initialize/Read/Write/DeleteShareGroupState, ReadShareGroupStateSummary); each change
 * is a ShareSnapshot record with the whole state, and the latest one per key is the state after a
 * restart or a move of the state partition. Writes are fenced by state epoch (a reset by an admin) and
 * leader epoch (a partition leader that lost its leadership).
 */
export class ShareStateCoordinator {
  /** statePartition -> key -> state */
  private readonly loaded = new Map<number, Map<string, ShareSnapshotValue>>();
  private readonly now: () => number;

  constructor(private readonly options: ShareStateCoordinatorOptions) {
    this.now = options.now ?? Date.now;
  }

  partitionFor(key: ShareSnapshotKey): number {
    return shareStatePartition(key, this.options.numPartitions());
  }

  /** Whether the state partition is loaded here (this broker leads it). */
  isLoaded(statePartition: number): boolean {
    return this.loaded.has(statePartition);
  }

  /**
   * Takes over a state partition from its records (in log order): the latest snapshot per key wins, a
   * tombstone removes it. Unreadable records are reported through `onBadRecord` and skipped.
   */
  loadPartition(
    statePartition: number,
    records: Iterable<{ key: Buffer; value: Buffer | null }>,
    onBadRecord: (err: unknown) => void = () => {},
  ): number {
    const states = new Map<string, ShareSnapshotValue>();
    for (const r of records) {
      try {
        const k = decodeShareSnapshotKey(r.key);
        if (k === null) continue;
        const id = keyOf(k);
        if (r.value === null) states.delete(id);
        else states.set(id, decodeShareSnapshotValue(r.value));
      } catch (err) {
        onBadRecord(err);
      }
    }
    this.loaded.set(statePartition, states);
    return states.size;
  }

  /** Forgets a state partition this broker no longer leads. */
  unloadPartition(statePartition: number): void {
    this.loaded.delete(statePartition);
  }

  /** Every state held here, as [key, state] (a restarted single node restores its share-partitions from them). */
  *states(): Generator<[ShareSnapshotKey, ShareSnapshotValue]> {
    for (const states of this.loaded.values()) {
      for (const [id, v] of states) {
        const [groupId, topicId, partition] = id.split('\0');
        yield [{ groupId: groupId as string, topicId: topicId as string, partition: Number(partition) }, v];
      }
    }
  }

  /** InitializeShareGroupState: a share-partition's first state (or a reset with a higher state epoch). */
  async initialize(key: ShareSnapshotKey, stateEpoch: number, startOffset: bigint): Promise<ShareStateResult> {
    const states = this.statesOf(key);
    if ('errorCode' in states) return states;
    const existing = states.get(keyOf(key));
    if (existing !== undefined && stateEpoch <= existing.stateEpoch) {
      return { errorCode: E.FENCED_STATE_EPOCH, errorMessage: `Initialize state epoch ${stateEpoch} is not newer.` };
    }
    const now = BigInt(this.now());
    return this.store(key, states, {
      snapshotEpoch: (existing?.snapshotEpoch ?? -1) + 1,
      stateEpoch,
      leaderEpoch: -1,
      startOffset,
      createTimestamp: now,
      writeTimestamp: now,
      stateBatches: [],
    });
  }

  /** ReadShareGroupState: the state a new partition leader starts from; its leader epoch fences older leaders. */
  async read(key: ShareSnapshotKey, leaderEpoch: number): Promise<ShareStateRead> {
    const states = this.statesOf(key);
    if ('errorCode' in states) return noShareState(states);
    const existing = states.get(keyOf(key));
    if (existing === undefined) return noShareState(notInitialized(key));
    if (leaderEpoch < existing.leaderEpoch) {
      return noShareState({ errorCode: E.FENCED_LEADER_EPOCH, errorMessage: `Leader epoch ${leaderEpoch} is stale.` });
    }
    if (leaderEpoch > existing.leaderEpoch) {
      const r = await this.store(key, states, {
        ...existing,
        leaderEpoch,
        snapshotEpoch: existing.snapshotEpoch + 1,
        writeTimestamp: BigInt(this.now()),
      });
      if (r.errorCode !== E.NONE) return noShareState(r);
    }
    const v = states.get(keyOf(key)) ?? existing;
    return {
      ...OK,
      stateEpoch: v.stateEpoch,
      leaderEpoch: v.leaderEpoch,
      startOffset: v.startOffset,
      stateBatches: v.stateBatches,
    };
  }

  /** ReadShareGroupStateSummary: start offset and epochs, for DescribeShareGroupOffsets. */
  summary(key: ShareSnapshotKey): ShareStateRead {
    const states = this.statesOf(key);
    if ('errorCode' in states) return noShareState(states);
    const v = states.get(keyOf(key));
    if (v === undefined) return noShareState(notInitialized(key));
    return {
      ...OK,
      stateEpoch: v.stateEpoch,
      leaderEpoch: v.leaderEpoch,
      startOffset: v.startOffset,
      stateBatches: [],
      deliveryCompleteCount: deliveryComplete(v.stateBatches, v.startOffset),
    };
  }

  /**
   * WriteShareGroupState: the batches written replace what they overlap, batches before the new start
   * offset are dropped (Kafka's merge), so a leader may send the whole state or only what changed.
   */
  async write(key: ShareSnapshotKey, w: ShareStateWrite): Promise<ShareStateResult> {
    const states = this.statesOf(key);
    if ('errorCode' in states) return states;
    const existing = states.get(keyOf(key));
    if (existing === undefined) return notInitialized(key);
    if (w.stateEpoch < existing.stateEpoch) {
      return { errorCode: E.FENCED_STATE_EPOCH, errorMessage: `State epoch ${w.stateEpoch} is stale.` };
    }
    if (w.leaderEpoch < existing.leaderEpoch) {
      return { errorCode: E.FENCED_LEADER_EPOCH, errorMessage: `Leader epoch ${w.leaderEpoch} is stale.` };
    }
    if (w.stateBatches.length > MAX_WRITE_BATCHES || w.stateBatches.some((b) => b.lastOffset < b.firstOffset)) {
      return { errorCode: E.INVALID_REQUEST, errorMessage: 'State batches out of range.' };
    }
    const startOffset = w.startOffset >= 0n ? w.startOffset : existing.startOffset;
    return this.store(key, states, {
      ...existing,
      snapshotEpoch: existing.snapshotEpoch + 1,
      stateEpoch: w.stateEpoch,
      leaderEpoch: w.leaderEpoch,
      startOffset,
      writeTimestamp: BigInt(this.now()),
      stateBatches: mergeBatches(existing.stateBatches, w.stateBatches, startOffset),
    });
  }

  /** DeleteShareGroupState: the share-partition's state is gone (a tombstone). */
  async delete(key: ShareSnapshotKey): Promise<ShareStateResult> {
    const states = this.statesOf(key);
    if ('errorCode' in states) return states;
    if (!states.delete(keyOf(key))) return OK;
    return this.append(key, null);
  }

  private statesOf(key: ShareSnapshotKey): Map<string, ShareSnapshotValue> | ShareStateResult {
    const states = this.loaded.get(this.partitionFor(key));
    if (states === undefined) {
      return { errorCode: E.NOT_COORDINATOR, errorMessage: 'This broker does not lead the share state partition.' };
    }
    return states;
  }

  private async store(
    key: ShareSnapshotKey,
    states: Map<string, ShareSnapshotValue>,
    v: ShareSnapshotValue,
  ): Promise<ShareStateResult> {
    // Kept in memory before the append resolves: later reads and writes of the same key see it (in order).
    states.set(keyOf(key), v);
    return this.append(key, encodeShareSnapshotValue(v));
  }

  private async append(key: ShareSnapshotKey, value: Buffer | null): Promise<ShareStateResult> {
    try {
      await this.options.append(this.partitionFor(key), [{ key: encodeShareSnapshotKey(key), value }]);
      return OK;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return {
        errorCode: typeof code === 'number' ? code : E.UNKNOWN_SERVER_ERROR,
        errorMessage: `Writing ${SHARE_STATE_WHAT}: ${(err as Error).message}`,
      };
    }
  }
}

const SHARE_STATE_WHAT = '__share_group_state';

function keyOf(k: ShareSnapshotKey): string {
  return `${k.groupId}\0${k.topicId}\0${k.partition}`;
}

function notInitialized(k: ShareSnapshotKey): ShareStateResult {
  return {
    errorCode: E.UNKNOWN_TOPIC_OR_PARTITION,
    errorMessage: `The share-partition ${k.groupId}:${k.topicId}:${k.partition} has no state.`,
  };
}

/**
 * The batches after a write: the new ones win where they overlap the old ones (an old batch keeps its
 * parts outside them), and nothing before `startOffset` is kept. Sorted, non-overlapping.
 */
export function mergeBatches(
  old: readonly PersistedStateBatch[],
  written: readonly PersistedStateBatch[],
  startOffset: bigint,
): PersistedStateBatch[] {
  const byFirst = (a: PersistedStateBatch, b: PersistedStateBatch) => (a.firstOffset < b.firstOffset ? -1 : 1);
  const incoming = [...written].sort(byFirst);
  const out: PersistedStateBatch[] = incoming.map((b) => ({ ...b }));
  // Both lists sorted: one pass, the first incoming batch that can reach an old one only moves forward.
  let j = 0;
  for (const b of [...old].sort(byFirst)) {
    while (j < incoming.length && (incoming[j] as PersistedStateBatch).lastOffset < b.firstOffset) j++;
    let from = b.firstOffset;
    for (let k = j; k < incoming.length && from <= b.lastOffset; k++) {
      const n = incoming[k] as PersistedStateBatch;
      if (n.firstOffset > b.lastOffset) break;
      if (n.lastOffset < from) continue;
      if (from < n.firstOffset) out.push({ ...b, firstOffset: from, lastOffset: n.firstOffset - 1n });
      from = n.lastOffset + 1n;
    }
    if (from <= b.lastOffset) out.push({ ...b, firstOffset: from });
  }
  const kept: PersistedStateBatch[] = [];
  for (const b of out.sort(byFirst)) {
    if (b.lastOffset < startOffset) continue;
    kept.push(b.firstOffset < startOffset ? { ...b, firstOffset: startOffset } : b);
  }
  return kept;
}

/** Offsets at or past `startOffset` that are acknowledged or archived, as KIP-1226's summary counts them. */
function deliveryComplete(batches: readonly PersistedStateBatch[], startOffset: bigint): number {
  let n = 0n;
  for (const b of batches) {
    if (b.deliveryState !== RECORD_STATE.ACKNOWLEDGED && b.deliveryState !== RECORD_STATE.ARCHIVED) continue;
    const first = b.firstOffset < startOffset ? startOffset : b.firstOffset;
    if (b.lastOffset >= first) n += b.lastOffset - first + 1n;
  }
  return n > 2147483647n ? 2147483647 : Number(n);
}
