import { ERROR_CODES, KafkaError } from '@sluice/protocol';

/**
 * The delivery state of one record of a share-partition (KIP-932), as Kafka's SharePartition keeps it.
 * The numbers are the ones persisted in `__share_group_state` (0 available, 2 acknowledged, 4 archived);
 * ACQUIRED (1) is never persisted: a restarted broker makes acquired records available again.
 */
export const RECORD_STATE = { AVAILABLE: 0, ACQUIRED: 1, ACKNOWLEDGED: 2, ARCHIVED: 4 } as const;
export type RecordState = (typeof RECORD_STATE)[keyof typeof RECORD_STATE];

/** ShareFetch/ShareAcknowledge acknowledge types: 0 gap, 1 accept, 2 release, 3 reject, 4 renew (KIP-1222). */
export const ACK_TYPE = { GAP: 0, ACCEPT: 1, RELEASE: 2, REJECT: 3, RENEW: 4 } as const;

export interface SharePartitionConfig {
  /** group.share.record.lock.duration.ms */
  lockDurationMs: number;
  /** group.share.delivery.count.limit */
  deliveryCountLimit: number;
  /** group.share.partition.max.record.locks: the in-flight span (start to end offset) is bounded by it. */
  maxRecordLocks: number;
}

export const DEFAULT_SHARE_PARTITION_CONFIG: SharePartitionConfig = {
  lockDurationMs: 30_000,
  deliveryCountLimit: 5,
  maxRecordLocks: 2_000,
};

/** A run of acquired offsets handed to one member, as ShareFetch answers it (AcquiredRecords). */
export interface AcquiredRange {
  firstOffset: bigint;
  lastOffset: bigint;
  deliveryCount: number;
}

/** A record batch the log returned: its offsets, and whether it is a control batch (never delivered). */
export interface FetchedBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  isControl: boolean;
}

/** The persisted shape (Kafka's ShareSnapshotValue state batches). */
export interface PersistedStateBatch {
  firstOffset: bigint;
  lastOffset: bigint;
  deliveryState: number;
  deliveryCount: number;
}

export interface PersistedShareState {
  stateEpoch: number;
  startOffset: bigint;
  stateBatches: PersistedStateBatch[];
}

interface InFlightRecord {
  state: RecordState;
  deliveryCount: number;
  /** The member holding the acquisition lock (ACQUIRED only). */
  owner: string | null;
  lockExpiresAtMs: number;
}

/**
 * One share-partition: the records of a (group, topic, partition) between the share-partition start offset
 * (SPSO, everything before it is done) and end offset (SPEO, the next offset not yet taken from the log).
 * Every offset in [start, end) has a state; records are acquired by one member at a time under a lock
 * that expires after `lockDurationMs`, and come back (AVAILABLE) on release or expiry until their delivery
 * count reaches the limit, when they are ARCHIVED. Pure state: the caller passes the clock and what the
 * log holds.
 */
export class SharePartition {
  private start: bigint;
  private end: bigint;
  private readonly inFlight = new Map<bigint, InFlightRecord>();
  stateEpoch = 0;

  constructor(
    startOffset: bigint,
    private readonly config: SharePartitionConfig = DEFAULT_SHARE_PARTITION_CONFIG,
  ) {
    this.start = startOffset;
    this.end = startOffset;
  }

  get startOffset(): bigint {
    return this.start;
  }

  get endOffset(): bigint {
    return this.end;
  }

  /** The state of an offset (records before the start offset are done: ARCHIVED or ACKNOWLEDGED alike). */
  stateOf(offset: bigint, nowMs: number): { state: RecordState; deliveryCount: number; owner: string | null } | null {
    this.expireLocks(nowMs);
    const r = this.inFlight.get(offset);
    return r === undefined ? null : { state: r.state, deliveryCount: r.deliveryCount, owner: r.owner };
  }

  /** The first offset a fetch should read from: the first AVAILABLE in-flight record, else the end offset. */
  nextFetchOffset(nowMs: number): bigint {
    this.expireLocks(nowMs);
    for (let o = this.start; o < this.end; o++) {
      if (this.inFlight.get(o)?.state === RECORD_STATE.AVAILABLE) return o;
    }
    return this.end;
  }

  /** Records currently locked (ACQUIRED) by anyone. */
  acquiredCount(nowMs: number): number {
    this.expireLocks(nowMs);
    let n = 0;
    for (const r of this.inFlight.values()) if (r.state === RECORD_STATE.ACQUIRED) n++;
    return n;
  }

  /**
   * Acquires for `memberId` up to `maxRecords` records of the fetched batches: AVAILABLE in-flight records
   * first come back (delivery count + 1), then records past the end offset join the in-flight set while
   * the span stays within `maxRecordLocks`. Control batches and offsets the log skips are archived, never
   * delivered. Returns the acquired runs in offset order.
   */
  acquire(memberId: string, batches: readonly FetchedBatch[], maxRecords: number, nowMs: number): AcquiredRange[] {
    this.expireLocks(nowMs);
    const out: AcquiredRange[] = [];
    let left = Math.max(1, maxRecords);
    const take = (offset: bigint, r: InFlightRecord) => {
      r.state = RECORD_STATE.ACQUIRED;
      r.deliveryCount++;
      r.owner = memberId;
      r.lockExpiresAtMs = nowMs + this.config.lockDurationMs;
      const last = out[out.length - 1];
      if (last !== undefined && last.lastOffset + 1n === offset && last.deliveryCount === r.deliveryCount) {
        last.lastOffset = offset;
      } else {
        out.push({ firstOffset: offset, lastOffset: offset, deliveryCount: r.deliveryCount });
      }
      left--;
    };
    for (const b of batches) {
      if (left <= 0) break;
      // Records already in flight: only AVAILABLE ones are taken again.
      const inFlightLast = b.lastOffset < this.end ? b.lastOffset : this.end - 1n;
      for (let o = b.baseOffset > this.start ? b.baseOffset : this.start; o <= inFlightLast && left > 0; o++) {
        const r = this.inFlight.get(o);
        if (r?.state === RECORD_STATE.AVAILABLE && !b.isControl) take(o, r);
      }
      if (b.lastOffset < this.end) continue;
      // New records: the batch (or its part past the end offset) joins the in-flight set.
      if (b.baseOffset > this.end) {
        if (this.start === this.end) {
          this.start = b.baseOffset;
          this.end = b.baseOffset;
        } else if (b.baseOffset - this.start > BigInt(this.config.maxRecordLocks)) {
          break;
        } else {
          // Offsets the log does not hold (compacted away, aborted): nothing to deliver.
          for (let o = this.end; o < b.baseOffset; o++) this.inFlight.set(o, archived());
          this.end = b.baseOffset;
        }
      }
      for (let o = this.end; o <= b.lastOffset && left > 0; o++) {
        if (this.end - this.start >= BigInt(this.config.maxRecordLocks)) {
          this.advanceStart();
          if (this.end - this.start >= BigInt(this.config.maxRecordLocks)) break;
        }
        const r: InFlightRecord = { state: RECORD_STATE.AVAILABLE, deliveryCount: 0, owner: null, lockExpiresAtMs: 0 };
        this.inFlight.set(o, r);
        this.end = o + 1n;
        if (b.isControl) r.state = RECORD_STATE.ARCHIVED;
        else take(o, r);
      }
    }
    this.advanceStart();
    return out;
  }

  /**
   * Applies one acknowledgement batch of `memberId`: `types` holds one type for the whole range or one per
   * offset. Every offset must be ACQUIRED by this member (its lock not expired), else INVALID_RECORD_STATE
   * and nothing of the range changes.
   */
  acknowledge(
    memberId: string,
    firstOffset: bigint,
    lastOffset: bigint,
    types: readonly number[],
    nowMs: number,
  ): void {
    this.expireLocks(nowMs);
    const span = lastOffset - firstOffset + 1n;
    if (span <= 0n || types.length === 0 || (types.length !== 1 && BigInt(types.length) !== span)) {
      throw new KafkaError(ERROR_CODES.INVALID_REQUEST, `invalid acknowledgement batch ${firstOffset}-${lastOffset}`);
    }
    if (span > BigInt(this.config.maxRecordLocks) + (this.end - this.start)) {
      throw new KafkaError(
        ERROR_CODES.INVALID_RECORD_STATE,
        `acknowledgement batch ${firstOffset}-${lastOffset} too long`,
      );
    }
    for (const t of types) {
      if (t < ACK_TYPE.GAP || t > ACK_TYPE.RENEW)
        throw new KafkaError(ERROR_CODES.INVALID_REQUEST, `acknowledge type ${t}`);
    }
    for (let o = firstOffset; o <= lastOffset; o++) {
      const r = this.inFlight.get(o);
      if (r === undefined || r.state !== RECORD_STATE.ACQUIRED || r.owner !== memberId) {
        throw new KafkaError(ERROR_CODES.INVALID_RECORD_STATE, `offset ${o} is not acquired by this member`);
      }
    }
    for (let o = firstOffset, i = 0; o <= lastOffset; o++, i++) {
      const r = this.inFlight.get(o) as InFlightRecord;
      const type = types.length === 1 ? types[0] : types[i];
      switch (type) {
        case ACK_TYPE.ACCEPT:
          this.settle(r, RECORD_STATE.ACKNOWLEDGED);
          break;
        case ACK_TYPE.RELEASE:
          this.settle(r, this.reachedLimit(r) ? RECORD_STATE.ARCHIVED : RECORD_STATE.AVAILABLE);
          break;
        case ACK_TYPE.RENEW:
          r.lockExpiresAtMs = nowMs + this.config.lockDurationMs;
          break;
        default: // GAP, REJECT
          this.settle(r, RECORD_STATE.ARCHIVED);
      }
    }
    this.advanceStart();
  }

  /** Releases every record `memberId` holds (the member left, or closed its share session). */
  releaseMember(memberId: string, nowMs: number): number {
    this.expireLocks(nowMs);
    let n = 0;
    for (const r of this.inFlight.values()) {
      if (r.state === RECORD_STATE.ACQUIRED && r.owner === memberId) {
        this.settle(r, this.reachedLimit(r) ? RECORD_STATE.ARCHIVED : RECORD_STATE.AVAILABLE);
        n++;
      }
    }
    this.advanceStart();
    return n;
  }

  /** The log start offset moved past records: they are gone, whatever their state. */
  onLogStartOffset(logStartOffset: bigint): void {
    if (logStartOffset <= this.start) return;
    for (const o of this.inFlight.keys()) if (o < logStartOffset) this.inFlight.delete(o);
    this.start = logStartOffset;
    if (this.end < this.start) this.end = this.start;
    this.advanceStart();
  }

  /** Moves the start offset to `offset` and forgets everything in flight (AlterShareGroupOffsets). */
  reset(offset: bigint): void {
    this.inFlight.clear();
    this.start = offset;
    this.end = offset;
    this.stateEpoch++;
  }

  /** The state to persist: start offset and the in-flight records in runs (ACQUIRED ones as AVAILABLE). */
  snapshot(): PersistedShareState {
    const batches: PersistedStateBatch[] = [];
    for (let o = this.start; o < this.end; o++) {
      const r = this.inFlight.get(o);
      if (r === undefined) continue;
      const state = r.state === RECORD_STATE.ACQUIRED ? RECORD_STATE.AVAILABLE : r.state;
      const last = batches[batches.length - 1];
      if (
        last &&
        last.lastOffset + 1n === o &&
        last.deliveryState === state &&
        last.deliveryCount === r.deliveryCount
      ) {
        last.lastOffset = o;
      } else {
        batches.push({ firstOffset: o, lastOffset: o, deliveryState: state, deliveryCount: r.deliveryCount });
      }
    }
    return { stateEpoch: this.stateEpoch, startOffset: this.start, stateBatches: batches };
  }

  /** A share-partition as persisted (a restart): acquired records were written as AVAILABLE. */
  static restore(state: PersistedShareState, config?: SharePartitionConfig): SharePartition {
    const sp = new SharePartition(state.startOffset, config);
    sp.stateEpoch = state.stateEpoch;
    const limit = BigInt((config ?? DEFAULT_SHARE_PARTITION_CONFIG).maxRecordLocks);
    for (const b of state.stateBatches) {
      if (b.lastOffset < b.firstOffset || b.firstOffset < sp.start || b.lastOffset - sp.start >= limit) {
        throw new KafkaError(
          ERROR_CODES.CORRUPT_MESSAGE,
          `share state batch ${b.firstOffset}-${b.lastOffset} out of range`,
        );
      }
      const state =
        b.deliveryState === RECORD_STATE.ACKNOWLEDGED || b.deliveryState === RECORD_STATE.ARCHIVED
          ? (b.deliveryState as RecordState)
          : RECORD_STATE.AVAILABLE;
      for (let o = b.firstOffset; o <= b.lastOffset; o++) {
        sp.inFlight.set(o, { state, deliveryCount: b.deliveryCount, owner: null, lockExpiresAtMs: 0 });
      }
      if (b.lastOffset + 1n > sp.end) sp.end = b.lastOffset + 1n;
    }
    // Offsets between runs that were not written were never fetched: fill them in as archived would lose
    // them, so the end offset stops before the first hole and the log is read again from there.
    for (let o = sp.start; o < sp.end; o++) {
      if (!sp.inFlight.has(o)) {
        for (const k of [...sp.inFlight.keys()]) if (k >= o) sp.inFlight.delete(k);
        sp.end = o;
        break;
      }
    }
    sp.advanceStart();
    return sp;
  }

  private reachedLimit(r: InFlightRecord): boolean {
    return r.deliveryCount >= this.config.deliveryCountLimit;
  }

  private settle(r: InFlightRecord, state: RecordState): void {
    r.state = state;
    r.owner = null;
    r.lockExpiresAtMs = 0;
  }

  /** Locks that ran out: the record comes back for another delivery, or is archived at the limit. */
  private expireLocks(nowMs: number): void {
    let changed = false;
    for (const r of this.inFlight.values()) {
      if (r.state === RECORD_STATE.ACQUIRED && r.lockExpiresAtMs <= nowMs) {
        this.settle(r, this.reachedLimit(r) ? RECORD_STATE.ARCHIVED : RECORD_STATE.AVAILABLE);
        changed = true;
      }
    }
    if (changed) this.advanceStart();
  }

  /** Everything done at the start moves the start offset on (Kafka's SPSO). */
  private advanceStart(): void {
    for (;;) {
      if (this.start >= this.end) return;
      const r = this.inFlight.get(this.start);
      if (r === undefined || (r.state !== RECORD_STATE.ACKNOWLEDGED && r.state !== RECORD_STATE.ARCHIVED)) return;
      this.inFlight.delete(this.start);
      this.start++;
    }
  }
}

function archived(): InFlightRecord {
  return { state: RECORD_STATE.ARCHIVED, deliveryCount: 0, owner: null, lockExpiresAtMs: 0 };
}
