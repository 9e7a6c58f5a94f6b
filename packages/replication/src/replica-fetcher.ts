import {
  ERROR_CODES,
  type FetchRequest,
  type FetchResponse,
  type FetchResponsePartitionData,
  ZERO_UUID,
} from '@sluice/protocol';

/** What a follower's fetcher needs of the local log. */
export interface FollowerLog {
  readonly logStartOffset: bigint;
  readonly logEndOffset: bigint;
  highWatermark: bigint;
  /** The epoch of the last batch in the log (-1 when it has none): Fetch's LastFetchedEpoch. */
  latestEpoch(): number;
  /** The largest epoch <= `epoch` this log has, and where it ends (OffsetForLeaderEpoch, locally). */
  endOffsetFor(epoch: number): { epoch: number; endOffset: bigint };
}

/** A partition this broker follows: its log and the three ways the fetcher changes it. */
export interface FollowedPartition {
  readonly topic: string;
  readonly topicId: string;
  readonly partition: number;
  readonly log: FollowerLog;
  /** Appends batches as the leader wrote them (its offsets and epochs). */
  append(records: Buffer): void;
  /** Drops everything from `offset` on (a divergent tail). */
  truncateTo(offset: bigint): void;
  /** Empties the log and restarts it at `offset` (the leader no longer has what follows this log's end). */
  truncateFullyAndStartAt(offset: bigint): void;
}

/** The leader's side as the fetcher speaks to it: Kafka's Fetch and ListOffsets. */
export interface LeaderConnection {
  fetch(request: FetchRequest): Promise<FetchResponse>;
  /** The leader's log start offset (ListOffsets EARLIEST as a replica). */
  logStartOffset(topic: string, partition: number, currentLeaderEpoch: number): Promise<bigint>;
  close(): void;
}

export interface ReplicaFetcherOptions {
  /** This broker's node id: the fetch's ReplicaState.ReplicaId. */
  nodeId: number;
  /** This broker's epoch (ReplicaState.ReplicaEpoch; -1 when unknown). */
  brokerEpoch?: () => bigint;
  /** `replica.fetch.wait.max.ms`. */
  maxWaitMs: number;
  /** `replica.fetch.min.bytes`. */
  minBytes: number;
  /** `replica.fetch.max.bytes`: per partition. */
  partitionMaxBytes: number;
  /** `replica.fetch.response.max.bytes`. */
  responseMaxBytes: number;
  /** `replica.fetch.backoff.ms`: after an error, before trying again. */
  backoffMs: number;
  connect: () => Promise<LeaderConnection>;
  onError?: (err: unknown, what: string) => void;
}

interface FetchState {
  readonly target: FollowedPartition;
  readonly leaderEpoch: number;
  /** Not fetched before this time (after an error). */
  retryAtMs: number;
  /** Stopped until the metadata moves on (the leader fenced our epoch, or no longer leads). */
  parked: boolean;
}

/** Partitions one fetcher serves; past this `add` refuses (a broker holds far fewer per source broker). */
export const MAX_PARTITIONS_PER_FETCHER = 100_000;

const keyOf = (p: { topicId: string; partition: number }) => `${p.topicId}:${p.partition}`;

/**
 * One replica fetcher (Kafka's ReplicaFetcherThread): fetches every partition it is given from
 * one leader with Kafka's Fetch as a replica (ReplicaState), appends what comes with the leader's
 * offsets, learns the high watermark, and truncates a divergent tail when the leader answers with
 * a diverging epoch (KIP-320) or the follower's offset is gone from the leader.
 */
export class ReplicaFetcher {
  private readonly partitions = new Map<string, FetchState>();
  private stopped = false;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private connection: LeaderConnection | null = null;
  /** Settles when stop() is called: a fetch in flight is not waited for. */
  private readonly stopSignal: Promise<null>;
  private signalStop: () => void = () => {};

  constructor(private readonly options: ReplicaFetcherOptions) {
    this.stopSignal = new Promise<null>((resolve) => {
      this.signalStop = () => resolve(null);
    });
  }

  get size(): number {
    return this.partitions.size;
  }

  has(p: { topicId: string; partition: number }): boolean {
    return this.partitions.has(keyOf(p));
  }

  /** Starts (or restarts, with a new leader epoch) fetching a partition. */
  add(target: FollowedPartition, leaderEpoch: number): void {
    if (this.partitions.size >= MAX_PARTITIONS_PER_FETCHER && !this.has(target)) {
      throw new Error(`a replica fetcher serves at most ${MAX_PARTITIONS_PER_FETCHER} partitions`);
    }
    this.partitions.set(keyOf(target), { target, leaderEpoch, retryAtMs: 0, parked: false });
    this.loop ??= this.run();
    this.wake();
  }

  remove(p: { topicId: string; partition: number }): void {
    this.partitions.delete(keyOf(p));
  }

  /** Stops fetching and closes the connection; resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.signalStop();
    this.wake();
    this.connection?.close();
    await this.loop;
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    // Bounded by `stopped`: every round fetches once or sleeps.
    while (!this.stopped) {
      const now = Date.now();
      const ready = [...this.partitions.values()].filter((s) => !s.parked && s.retryAtMs <= now);
      if (ready.length === 0) {
        const next = Math.min(...[...this.partitions.values()].filter((s) => !s.parked).map((s) => s.retryAtMs));
        await this.sleep(Number.isFinite(next) ? Math.max(1, next - now) : 60_000);
        continue;
      }
      try {
        this.connection ??= await this.options.connect();
        const response = await Promise.race([this.connection.fetch(this.request(ready)), this.stopSignal]);
        if (this.stopped || response === null) break;
        if (response.errorCode !== 0) throw new Error(`fetch answered error code ${response.errorCode}`);
        await this.handle(response, ready);
      } catch (err) {
        if (this.stopped) break;
        this.options.onError?.(err, 'replica fetch');
        this.connection?.close();
        this.connection = null;
        await this.sleep(this.options.backoffMs);
      }
    }
    this.connection?.close();
    this.connection = null;
  }

  private request(ready: FetchState[]): FetchRequest {
    const byTopic = new Map<string, FetchRequest['topics'][number]>();
    for (const s of ready) {
      const t = s.target;
      let topic = byTopic.get(t.topicId);
      if (!topic) {
        topic = { topic: t.topic, topicId: t.topicId, partitions: [] };
        byTopic.set(t.topicId, topic);
      }
      topic.partitions.push({
        partition: t.partition,
        currentLeaderEpoch: s.leaderEpoch,
        fetchOffset: t.log.logEndOffset,
        lastFetchedEpoch: t.log.latestEpoch(),
        logStartOffset: t.log.logStartOffset,
        partitionMaxBytes: this.options.partitionMaxBytes,
        replicaDirectoryId: ZERO_UUID,
        highWatermark: 0x7fffffffffffffffn,
      });
    }
    return {
      clusterId: null,
      replicaId: -1,
      replicaState: { replicaId: this.options.nodeId, replicaEpoch: this.options.brokerEpoch?.() ?? -1n },
      maxWaitMs: this.options.maxWaitMs,
      minBytes: this.options.minBytes,
      maxBytes: this.options.responseMaxBytes,
      isolationLevel: 0,
      // Sessionless: every request names every partition (no fetch session state on either side).
      sessionId: 0,
      sessionEpoch: -1,
      topics: [...byTopic.values()],
      forgottenTopicsData: [],
      rackId: '',
    };
  }

  private async handle(response: FetchResponse, asked: FetchState[]): Promise<void> {
    const askedByKey = new Map(asked.map((s) => [keyOf(s.target), s]));
    for (const t of response.responses) {
      for (const data of t.partitions) {
        const key = `${t.topicId}:${data.partitionIndex}`;
        const state = askedByKey.get(key);
        // Removed or re-added (a new leader epoch) while the fetch was out: its answer is stale.
        if (!state || this.partitions.get(key) !== state) continue;
        try {
          await this.apply(state, data);
        } catch (err) {
          this.options.onError?.(err, `replicating ${state.target.topic}-${state.target.partition}`);
          state.retryAtMs = Date.now() + this.options.backoffMs;
        }
      }
    }
  }

  private async apply(state: FetchState, data: FetchResponsePartitionData): Promise<void> {
    const { target } = state;
    const log = target.log;
    switch (data.errorCode) {
      case 0:
        break;
      case ERROR_CODES.OFFSET_OUT_OF_RANGE: {
        // The leader no longer has our log end (retention, or it was behind): start at its log start
        // when we are below it; otherwise our tail is not the leader's (no epochs to say where): drop
        // what is above the high watermark.
        const connection = this.connection;
        if (!connection) return;
        const leaderStart = await connection.logStartOffset(target.topic, target.partition, state.leaderEpoch);
        const before = log.logEndOffset;
        if (before < leaderStart) target.truncateFullyAndStartAt(leaderStart);
        else target.truncateTo(log.highWatermark);
        // Nothing changed: ask again after the backoff, not at once.
        if (log.logEndOffset === before) state.retryAtMs = Date.now() + this.options.backoffMs;
        return;
      }
      case ERROR_CODES.FENCED_LEADER_EPOCH:
      case ERROR_CODES.NOT_LEADER_OR_FOLLOWER:
        // Our view of the leadership is old, or the leader's is: wait for the metadata to move
        // (a new record re-adds the partition) and meanwhile try again slowly.
        state.retryAtMs = Date.now() + this.options.backoffMs;
        return;
      default:
        state.retryAtMs = Date.now() + this.options.backoffMs;
        return;
    }
    const diverging = data.divergingEpoch;
    if (diverging.epoch >= 0 || diverging.endOffset >= 0n) {
      const before = log.logEndOffset;
      this.truncateDivergent(target, diverging.epoch, diverging.endOffset);
      // Nothing left to drop and still diverging: wait rather than ask again at once.
      if (log.logEndOffset >= before) state.retryAtMs = Date.now() + this.options.backoffMs;
      return;
    }
    const records = data.records;
    if (records && records.length > 0) target.append(Buffer.from(records.buffer, records.byteOffset, records.length));
    // A follower's high watermark is the leader's, within its own log (the setter clamps it).
    log.highWatermark = data.highWatermark;
  }

  /**
   * KIP-320, with Kafka's rules (getOffsetTruncationState): the leader's log ends epoch `epoch`
   * at `endOffset`. No offset from the leader: keep only what was committed (the high
   * watermark). Where this log has that epoch, the logs agree up to the smaller end; where it has
   * only an older one, up to that one's end, and the next fetch (with that older epoch as the
   * last fetched) narrows it further; where it has none at or below, up to the leader's end.
   */
  private truncateDivergent(target: FollowedPartition, epoch: number, endOffset: bigint): void {
    const log = target.log;
    const min = (a: bigint, b: bigint) => (a < b ? a : b);
    let to: bigint;
    if (endOffset < 0n) to = log.highWatermark;
    else if (epoch < 0) to = endOffset;
    else {
      const local = log.endOffsetFor(epoch);
      to = local.epoch < 0 ? endOffset : local.epoch !== epoch ? local.endOffset : min(local.endOffset, endOffset);
    }
    target.truncateTo(min(to, log.logEndOffset));
  }
}

/** Kafka's fetcher id of a partition among `num.replica.fetchers` (AbstractFetcherManager.getFetcherId). */
export function fetcherIdFor(topic: string, partition: number, numFetchers: number): number {
  let h = 0;
  for (let i = 0; i < topic.length; i++) h = (Math.imul(31, h) + topic.charCodeAt(i)) | 0;
  return Math.abs((31 * h + partition) | 0) % Math.max(1, numFetchers);
}

/**
 * The fetchers of one broker (Kafka's ReplicaFetcherManager): one per source broker and fetcher id
 * (`num.replica.fetchers` per source broker); a partition moves to the fetcher of its new leader,
 * and a fetcher left without partitions stops.
 */
export class ReplicaFetcherManager {
  private readonly fetchers = new Map<string, ReplicaFetcher>();
  private readonly placement = new Map<string, string>();

  constructor(
    private readonly numFetchers: number,
    private readonly create: (leaderId: number) => ReplicaFetcher,
  ) {}

  get fetcherCount(): number {
    return this.fetchers.size;
  }

  follow(target: FollowedPartition, leaderId: number, leaderEpoch: number): void {
    const fetcherKey = `${leaderId}/${fetcherIdFor(target.topic, target.partition, this.numFetchers)}`;
    this.unfollow(target, fetcherKey);
    let fetcher = this.fetchers.get(fetcherKey);
    if (!fetcher) {
      fetcher = this.create(leaderId);
      this.fetchers.set(fetcherKey, fetcher);
    }
    fetcher.add(target, leaderEpoch);
    this.placement.set(keyOf(target), fetcherKey);
  }

  /** Stops fetching a partition (it leads now, or is gone); `keep` is a fetcher not to stop. */
  unfollow(p: { topicId: string; partition: number }, keep?: string): void {
    const key = keyOf(p);
    const fetcherKey = this.placement.get(key);
    if (fetcherKey === undefined) return;
    this.placement.delete(key);
    const fetcher = this.fetchers.get(fetcherKey);
    if (!fetcher) return;
    fetcher.remove(p);
    if (fetcher.size === 0 && fetcherKey !== keep) {
      this.fetchers.delete(fetcherKey);
      void fetcher.stop();
    }
  }

  async stop(): Promise<void> {
    const all = [...this.fetchers.values()];
    this.fetchers.clear();
    this.placement.clear();
    await Promise.all(all.map((f) => f.stop()));
  }
}
