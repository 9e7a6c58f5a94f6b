import { type ClientContext, type ClientOptions, createContext } from '../client.js';
import { ClientClosedError } from '../errors.js';
import type { Topic } from '../serde.js';
import { ASSIGNORS, type Assignor } from './assignors.js';
import { ConsumerGroupMember } from './consumer-group-member.js';
import { type ConsumerRecord, type DecodedChunk, DeserializationError, decodeChunk } from './decode.js';
import { Fetcher, type PartitionFetchState } from './fetcher.js';
import { type GroupCallbacks, GroupMember } from './group.js';
import { EARLIEST, LATEST, type TopicPartition, tpKey } from './offsets.js';

export { type ConsumerRecord, DeserializationError } from './decode.js';

/** %AsyncIteratorPrototype%: what async generators inherit from (Symbol.asyncIterator, asyncDispose where the runtime has it). */
const ASYNC_ITERATOR_PROTOTYPE: object = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);

/**
 * What the consumer does with a record whose key or value does not deserialize: 'throw' (the
 * default) ends `records()`/`run()` with a DeserializationError and leaves the position at that
 * record, so iterating again meets it again (seek past it to go on, as with Java's
 * RecordDeserializationException); 'skip' passes over it; a function gets the error (which carries
 * the raw record) and the consumer passes over the record once it returns.
 */
export type DeserializationErrorPolicy = 'throw' | 'skip' | ((err: DeserializationError) => void | Promise<void>);

export interface RebalanceListener {
  /** After a rebalance added partitions (their positions are set). */
  assigned?(partitions: TopicPartition[]): void | Promise<void>;
  /** Before partitions go to another member (after their offsets are committed, with autoCommit). */
  revoked?(partitions: TopicPartition[]): void | Promise<void>;
  /** Partitions lost without a commit (the member was fenced or its session expired). */
  lost?(partitions: TopicPartition[]): void | Promise<void>;
}

export interface ConsumerOptions {
  /** With a group id, `records()`/`run()` subscribe through the group protocol; without, they read every partition. */
  groupId?: string;
  groupInstanceId?: string;
  /**
   * The rebalance protocol (Kafka's `group.protocol`): 'classic' (default: JoinGroup/SyncGroup, the
   * client-side `assignors`) or 'consumer' (KIP-848: ConsumerGroupHeartbeat, the broker assigns
   * incrementally; `sessionTimeoutMs`, `heartbeatIntervalMs` and `assignors` are then the broker's).
   */
  groupProtocol?: 'classic' | 'consumer';
  /** With groupProtocol 'consumer': the broker's assignor (`uniform`, `range`); default the broker's first. */
  groupRemoteAssignor?: string;
  /** Default ['cooperative-sticky', 'range']. */
  assignors?: ReadonlyArray<'range' | 'roundrobin' | 'cooperative-sticky' | Assignor>;
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Default true: positions are committed every autoCommitIntervalMs, on revoke and on close. */
  autoCommit?: boolean;
  autoCommitIntervalMs?: number;
  /** Where to start without a committed offset. Default 'latest'. */
  autoOffsetReset?: 'earliest' | 'latest' | 'none';
  isolationLevel?: 'read_uncommitted' | 'read_committed';
  maxWaitMs?: number;
  minBytes?: number;
  maxBytes?: number;
  maxPartitionBytes?: number;
  /** Fetched, undelivered bytes held at most. Default 64 MiB. */
  maxPrefetchBytes?: number;
  onRebalance?: RebalanceListener;
  /** A record whose key or value does not deserialize: 'throw' (default), 'skip' or a handler. */
  onDeserializationError?: DeserializationErrorPolicy;
}

export interface AssignedPartition {
  topic: string | Topic<unknown, unknown>;
  partition: number;
  /** An offset, or 'earliest'/'latest'; default: the committed offset (with a group id), else autoOffsetReset. */
  offset?: bigint | 'earliest' | 'latest';
}

export interface BatchContext {
  /** Commits the positions reached so far. */
  commit(): Promise<void>;
}

/**
 * Reads typed records. Group mode: `records(topic)` or `run(topic, handler)` subscribe through the
 * consumer group protocol. Without a group id (or after `assign()`): the given partitions, or
 * every partition of the topic.
 */
export class Consumer {
  private readonly ctx: ClientContext;
  private readonly fetcher: Fetcher;
  private readonly member: GroupMember | null;
  private readonly topics = new Map<string, Topic<unknown, unknown>>();
  private manual = false;
  private closed = false;
  /** The tail of the chunk last handed out: passed once its records are consumed (see passTail). */
  private tail: { st: PartitionFetchState; generation: number; after: bigint; end: bigint } | null = null;
  private lastAutoCommit = Date.now();
  private readonly autoCommit: boolean;
  private readonly autoCommitIntervalMs: number;
  private readonly listener: RebalanceListener;
  private readonly reset: 'earliest' | 'latest' | 'none';
  private started = false;
  /** Set by subscribePattern(): the topic whose serdes decode the records of every matched topic. */
  private pattern: { regex: string; serdes: Topic<unknown, unknown> | null } | null = null;

  constructor(
    client: ClientOptions,
    private readonly o: ConsumerOptions = {},
  ) {
    this.ctx = createContext(client, false);
    this.reset = o.autoOffsetReset ?? 'latest';
    this.fetcher = new Fetcher(this.ctx, {
      maxWaitMs: o.maxWaitMs ?? 500,
      minBytes: o.minBytes ?? 1,
      maxBytes: o.maxBytes ?? 52_428_800,
      maxPartitionBytes: o.maxPartitionBytes ?? 1_048_576,
      maxPrefetchBytes: o.maxPrefetchBytes ?? 64 * 1024 * 1024,
      isolationLevel: o.isolationLevel === 'read_committed' ? 1 : 0,
      autoOffsetReset: this.reset,
    });
    this.autoCommit = (o.autoCommit ?? true) && o.groupId !== undefined;
    this.autoCommitIntervalMs = o.autoCommitIntervalMs ?? 5000;
    this.listener = o.onRebalance ?? {};
    const assignors = (o.assignors ?? ['cooperative-sticky', 'range']).map((a) =>
      typeof a === 'string' ? ASSIGNORS[a] : a,
    );
    const groupOptions = {
      groupId: o.groupId ?? '',
      groupInstanceId: o.groupInstanceId,
      sessionTimeoutMs: o.sessionTimeoutMs ?? 45_000,
      rebalanceTimeoutMs: o.rebalanceTimeoutMs ?? 60_000,
      heartbeatIntervalMs: o.heartbeatIntervalMs ?? 3000,
      assignors,
    };
    const callbacks: GroupCallbacks = {
      revoke: async (tps) => {
        if (this.autoCommit) await this.commitPartitions(tps).catch(() => {});
        for (const tp of tps) this.fetcher.unassign(tp);
        await this.listener.revoked?.(tps);
      },
      assign: async (tps) => {
        const committed = await (this.member as GroupMember).fetchOffsets(tps);
        for (const tp of tps) {
          const c = committed.get(tpKey(tp.topic, tp.partition)) ?? -1n;
          this.fetcher.assign(tp, c >= 0n ? c : this.resetSentinel());
        }
        await this.listener.assigned?.(tps);
      },
      lose: async (tps) => {
        for (const tp of tps) this.fetcher.unassign(tp);
        await this.listener.lost?.(tps);
      },
      rejoinNeeded: () => this.fetcher.interrupt(),
    };
    this.member =
      o.groupId === undefined
        ? null
        : o.groupProtocol === 'consumer'
          ? new ConsumerGroupMember(this.ctx, groupOptions, callbacks, {
              serverAssignor: o.groupRemoteAssignor ?? null,
            })
          : new GroupMember(this.ctx, groupOptions, callbacks);
  }

  private resetSentinel(): bigint {
    return this.reset === 'earliest' ? EARLIEST : this.reset === 'latest' ? LATEST : -3n;
  }

  /** Reads the given partitions without group management (commits, with a group id, still go to the group). */
  async assign(partitions: readonly AssignedPartition[]): Promise<void> {
    this.manual = true;
    const tps = partitions.map((p) => {
      const t = typeof p.topic === 'string' ? p.topic : p.topic.name;
      if (typeof p.topic !== 'string') this.topics.set(t, p.topic);
      return { topic: t, partition: p.partition, offset: p.offset };
    });
    const committed =
      this.member && tps.some((p) => p.offset === undefined) ? await this.member.fetchOffsets(tps) : new Map();
    for (const p of tps) {
      const c = committed.get(tpKey(p.topic, p.partition)) ?? -1n;
      const offset =
        p.offset === 'earliest'
          ? EARLIEST
          : p.offset === 'latest'
            ? LATEST
            : (p.offset ?? (c >= 0n ? c : this.resetSentinel()));
      this.fetcher.assign({ topic: p.topic, partition: p.partition }, offset);
    }
  }

  /** The partitions this consumer reads now. */
  assignment(): TopicPartition[] {
    return [...this.fetcher.states.values()].map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  /** The group membership now (as Java's groupMetadata()): null without a group id. */
  groupMetadata(): { groupId: string; memberId: string; generationId: number; groupInstanceId: string | null } | null {
    if (this.member === null) return null;
    return {
      groupId: this.member.groupId,
      memberId: this.member.memberId,
      generationId: this.member.generationId,
      groupInstanceId: this.member.groupInstanceId,
    };
  }

  /** The next offset the application will get from a partition. */
  position(topic: string, partition: number): bigint | undefined {
    return this.fetcher.states.get(tpKey(topic, partition))?.position;
  }

  /**
   * Records on the broker past the position, as of the last fetch response for the partition (Java's
   * `currentLag`, KIP-695): up to the last stable offset with read_committed, else the high watermark.
   * Undefined before a fetch has answered for the partition (or while its position is looked up).
   */
  currentLag(topic: string, partition: number): bigint | undefined {
    const st = this.fetcher.states.get(tpKey(topic, partition));
    if (st === undefined || st.resetting || st.position < 0n) return undefined;
    const end =
      this.o.isolationLevel === 'read_committed' && st.lastStableOffset >= 0n ? st.lastStableOffset : st.highWatermark;
    if (end < 0n) return undefined;
    return end > st.position ? end - st.position : 0n;
  }

  seek(topic: string | Topic<unknown, unknown>, partition: number, offset: bigint | 'earliest' | 'latest'): void {
    const name = typeof topic === 'string' ? topic : topic.name;
    this.fetcher.seek(
      { topic: name, partition },
      offset === 'earliest' ? EARLIEST : offset === 'latest' ? LATEST : offset,
    );
  }

  pause(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) this.fetcher.pause(tp, true);
  }

  resume(partitions: readonly TopicPartition[]): void {
    for (const tp of partitions) this.fetcher.pause(tp, false);
  }

  /**
   * Subscribes to several topics (group mode): `records()`/`run()` then deliver the records of all of
   * them, each decoded with its own topic's serdes (stream processors read many topics in one group).
   */
  subscribe(topics: ReadonlyArray<Topic<unknown, unknown>>): void {
    for (const t of topics) this.topics.set(t.name, t);
  }

  /**
   * Subscribes by a regular expression (groupProtocol 'consumer', KIP-848's SubscribedTopicRegex):
   * the broker matches it (RE2/J syntax) against every topic, now and as topics come and go. The topic
   * then given to `records()`/`run()` lends its serdes to every matched topic; its name is not
   * subscribed to.
   */
  subscribePattern(regex: string): void {
    if (!(this.member instanceof ConsumerGroupMember)) {
      throw new RangeError("subscribePattern needs a groupId and groupProtocol 'consumer'");
    }
    this.pattern = { regex, serdes: null };
    this.member.subscribeRegex(regex);
  }

  private async start(topic: Topic<unknown, unknown>): Promise<void> {
    if (this.pattern !== null) this.pattern.serdes = topic;
    else this.topics.set(topic.name, topic);
    if (this.started) return;
    this.started = true;
    if (this.manual) return;
    if (this.member === null) {
      const info = await this.ctx.metadata.topic(topic.name);
      await this.assign(info.partitions.map((p) => ({ topic, partition: p.partition })));
    }
  }

  /**
   * The next records (one fetched partition chunk), decoded; joins/rejoins the group and
   * auto-commits as needed. Null once closed.
   */
  private async poll(): Promise<DecodedChunk<unknown, unknown> | null> {
    this.passTail();
    for (;;) {
      if (this.closed) return null;
      if (this.member !== null && !this.manual) await this.member.rejoinIfNeeded([...this.topics.keys()]);
      if (this.autoCommit && Date.now() - this.lastAutoCommit >= this.autoCommitIntervalMs) {
        this.lastAutoCommit = Date.now();
        this.commit().catch(() => {});
      }
      // With auto-commit, wait for records no longer than until the next commit is due: an idle
      // consumer still commits what the application has read (as Java's poll() loop does).
      const chunk = await this.fetcher.next(
        this.autoCommit ? Math.max(0, this.lastAutoCommit + this.autoCommitIntervalMs - Date.now()) : undefined,
      );
      if (chunk === null) return null;
      if (chunk === undefined) continue;
      const st = this.fetcher.states.get(tpKey(chunk.topic, chunk.partition));
      const t = this.topics.get(chunk.topic) ?? this.pattern?.serdes ?? undefined;
      if (st === undefined || t === undefined) continue;
      const decoded = await decodeChunk(chunk, st.position, t);
      const records = decoded.records;
      // Decoding may wait (zstd): a rebalance or seek meanwhile makes the chunk stale. Handing it out
      // against the partition's new state would move the position past records not yet read.
      if (this.fetcher.states.get(tpKey(chunk.topic, chunk.partition)) !== st || st.generation !== chunk.generation) {
        continue;
      }
      if (records.length > 0) {
        this.ctx.metrics?.count('records_consumed', records.length);
        const after = records[records.length - 1].offset + 1n;
        if (chunk.nextOffset > after) this.tail = { st, generation: st.generation, after, end: chunk.nextOffset };
        return decoded;
      }
      // Only control batches or aborted records: the position moves past them (as Kafka's consumers').
      if (chunk.nextOffset > st.position) st.position = chunk.nextOffset;
    }
  }

  /**
   * Once the records before a chunk's tail of control batches or aborted records were handed out,
   * the position moves past the tail: without it a read_committed reader stops short of the end
   * offset when a transaction marker comes last.
   */
  private passTail(): void {
    const t = this.tail;
    this.tail = null;
    if (t === null) return;
    if (this.fetcher.states.get(tpKey(t.st.topic, t.st.partition)) !== t.st || t.st.generation !== t.generation) return;
    if (t.st.position === t.after) t.st.position = t.end;
  }

  private advance(r: { topic: string; partition: number; offset: bigint }): void {
    const st = this.fetcher.states.get(tpKey(r.topic, r.partition));
    if (st !== undefined && r.offset >= st.position) st.position = r.offset + 1n;
  }

  /** Applies onDeserializationError to a record that did not deserialize (in its place among the records). */
  private async undeserializable(err: DeserializationError): Promise<void> {
    const policy = this.o.onDeserializationError ?? 'throw';
    if (policy === 'throw') {
      // Fetch again from this record: the next iteration meets it again unless the application seeks.
      if (this.fetcher.states.has(tpKey(err.topic, err.partition))) {
        this.fetcher.seek({ topic: err.topic, partition: err.partition }, err.offset);
      }
      throw err;
    }
    if (policy !== 'skip') await policy(err);
    this.advance(err);
  }

  /**
   * Typed records one at a time; a record counts as consumed (for commits) once handed to the loop.
   *
   * An async generator in behaviour (next() calls queue, return()/throw() end it, an error ends it), but
   * written by hand: a record already decoded is handed out with one resolved promise, where an async
   * generator costs a few hundred ns per record in promises and resumptions. Polling, the
   * DeserializationError policy and start-up go through the async `step`.
   */
  records<K, V>(topic: Topic<K, V>): AsyncGenerator<ConsumerRecord<K, V>> {
    type Entry = ConsumerRecord<unknown, unknown> | DeserializationError;
    type Result = IteratorResult<ConsumerRecord<K, V>, undefined>;
    let started = false;
    let finished = false;
    /** A record was handed out by the last next(): as a generator resuming after its yield, close() ends the stream. */
    let resumed = false;
    /** The step under way (next() calls wait for it, as an async generator's queue). */
    let pending: Promise<Result> | null = null;
    // The chunk being handed out: one partition's records; a seek or revoke meanwhile makes the rest stale.
    let batch: Entry[] | null = null;
    let failures = 0;
    let i = 0;
    let st: PartitionFetchState | undefined;
    let generation = 0;
    /** Every record of the chunk is of this partition: its key is made once, not per record. */
    let key = '';
    const DONE: Result = { value: undefined, done: true };

    /** The next entry of the chunk to act on (not yet read); null once the chunk is done or stale. */
    const take = (): Entry | null => {
      while (batch !== null && i < batch.length) {
        const state = st as PartitionFetchState;
        if (state.generation !== generation || this.fetcher.states.get(key) !== state) break;
        const r = batch[i++];
        if (r.offset < state.position) continue;
        return r;
      }
      batch = null;
      return null;
    };
    /** A record counts as consumed once it is handed out (as after poll() in Kafka's clients), before the
     * loop body runs: a commit while the body works (close(), the application's own) covers it. Moving the
     * position after the body instead lost the last record of a body busy during close(). */
    const handOut = (r: ConsumerRecord<unknown, unknown>): Result => {
      (st as PartitionFetchState).position = r.offset + 1n;
      resumed = true;
      return { value: r as ConsumerRecord<K, V>, done: false };
    };
    const step = async (): Promise<Result> => {
      if (!started) {
        started = true;
        await this.start(topic as Topic<unknown, unknown>);
      }
      for (;;) {
        const r = take();
        if (r !== null) {
          // (instanceof costs tens of ns per record here: only looked at when the chunk has failures.)
          if (failures !== 0 && r instanceof DeserializationError) {
            await this.undeserializable(r);
            continue;
          }
          return handOut(r as ConsumerRecord<unknown, unknown>);
        }
        const decoded = await this.poll();
        if (decoded === null) return DONE;
        const s = this.fetcher.states.get(tpKey(decoded.records[0].topic, decoded.records[0].partition));
        if (s === undefined) continue;
        batch = decoded.records;
        failures = decoded.failures;
        i = 0;
        st = s;
        generation = s.generation;
        key = tpKey(s.topic, s.partition);
      }
    };
    const settle = (p: Promise<Result>): Promise<Result> => {
      const q = p.then(
        (res) => {
          pending = null;
          if (res.done) finished = true;
          return res;
        },
        (err: unknown) => {
          pending = null;
          finished = true;
          batch = null;
          throw err;
        },
      );
      pending = q;
      return q;
    };
    const next = (): Promise<Result> => {
      if (pending !== null) return pending.then(next, next);
      if (finished) return Promise.resolve(DONE);
      if (resumed) {
        resumed = false;
        if (this.closed) {
          finished = true;
          batch = null;
          return Promise.resolve(DONE);
        }
      }
      // The chunk's next record, when it is one to hand out as it is: no await.
      const r = take();
      if (r !== null) {
        if (failures === 0 || !(r instanceof DeserializationError)) {
          return Promise.resolve(handOut(r as ConsumerRecord<unknown, unknown>));
        }
        i--; // step() acts on it (the policy may wait)
      }
      return settle(step());
    };
    const end = async (): Promise<void> => {
      if (pending !== null) await pending.catch(() => {});
      finished = true;
      batch = null;
    };
    const stream = Object.create(ASYNC_ITERATOR_PROTOTYPE) as AsyncGenerator<ConsumerRecord<K, V>>;
    stream.next = next;
    stream.return = async (value?: unknown) => {
      await end();
      return { value: (await value) as undefined, done: true };
    };
    stream.throw = async (err: unknown) => {
      await end();
      throw err;
    };
    stream[Symbol.asyncIterator] = () => stream;
    return stream;
  }

  /**
   * Calls `handler` with each fetched batch of typed records until close(). A batch counts as consumed
   * once handed to the handler (a commit meanwhile covers it) unless the handler throws: then the
   * position goes back to the batch's first record and run() rejects.
   */
  async run<K, V>(
    topic: Topic<K, V>,
    handler: (records: ConsumerRecord<K, V>[], ctx: BatchContext) => Promise<void> | void,
  ): Promise<void> {
    await this.start(topic as Topic<unknown, unknown>);
    const ctx: BatchContext = { commit: () => this.commit() };
    for (;;) {
      const decoded = await this.poll();
      if (decoded === null) return;
      const { records: batch, failures } = decoded;
      const st = this.fetcher.states.get(tpKey(batch[0].topic, batch[0].partition));
      const generation = st?.generation;
      // The records between undeserializable ones go to the handler in order, each run on its own.
      // Without any (the usual case) the loop starts at the end: the whole chunk, no per-record instanceof.
      let from = 0;
      for (let i = failures === 0 ? batch.length : 0; i <= batch.length; i++) {
        const failed = batch[i];
        if (i < batch.length && !(failed instanceof DeserializationError)) continue;
        // The whole chunk as it is when every record deserialized (the common case: no copy).
        const records = (from === 0 && i === batch.length ? batch : batch.slice(from, i)) as ConsumerRecord<K, V>[];
        from = i + 1;
        if (records.length > 0) {
          if (st === undefined || st.generation !== generation) break;
          this.advance(records[records.length - 1]);
          try {
            await handler(records, ctx);
          } catch (err) {
            if (st.generation === generation) st.position = records[0].offset;
            throw err;
          }
          if (st.generation !== generation) break;
        }
        if (failed instanceof DeserializationError) {
          if (st === undefined || st.generation !== generation) break;
          await this.undeserializable(failed);
        }
      }
    }
  }

  /** Commits the current positions of all partitions (synchronously: resolves when the group has them). */
  async commit(): Promise<void> {
    await this.commitPartitions(this.assignment());
  }

  /** Commits explicit offsets (the next offset to read). */
  async commitOffsets(offsets: ReadonlyArray<TopicPartition & { offset: bigint }>): Promise<void> {
    if (this.member === null) throw new RangeError('commits need a groupId');
    await this.member.commit(new Map(offsets.map((o) => [tpKey(o.topic, o.partition), o])));
  }

  private async commitPartitions(tps: readonly TopicPartition[]): Promise<void> {
    if (this.member === null) throw new RangeError('commits need a groupId');
    const offsets = new Map<string, { topic: string; partition: number; offset: bigint }>();
    for (const tp of tps) {
      const st = this.fetcher.states.get(tpKey(tp.topic, tp.partition));
      if (st !== undefined && st.position >= 0n)
        offsets.set(tpKey(tp.topic, tp.partition), { ...tp, offset: st.position });
    }
    await this.member.commit(offsets);
  }

  /** Commits in the background; errors go to `onError` (default: ignored, the next commit covers them). */
  commitAsync(onError?: (err: unknown) => void): void {
    this.commit().catch((err) => onError?.(err));
  }

  /** Stops iteration, commits (autoCommit), leaves the group and closes the connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.fetcher.close();
    if (this.member !== null) {
      if (this.autoCommit) await this.commit().catch(() => {});
      await this.member.leave();
    }
    await this.ctx.pool.close();
  }

  /** Throws if closed (for callers that hold on to a consumer). */
  ensureOpen(): void {
    if (this.closed) throw new ClientClosedError('consumer');
  }
}
