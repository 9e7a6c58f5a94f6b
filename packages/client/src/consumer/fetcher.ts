import { defaultFetchRequest, FetchApi, type FetchRequest, iterateBatches, ZERO_UUID } from '@sluice/protocol';
import type { ClientContext } from '../client.js';
import { KafkaError, needsMetadataRefresh } from '../errors.js';
import { backoffMs, sleep } from '../retry.js';
import { EARLIEST, LATEST, listOffsets, type TopicPartition, tpKey } from './offsets.js';

export interface AbortedTxn {
  producerId: bigint;
  firstOffset: bigint;
}

/** The records of one partition from one Fetch response, not yet decoded. */
export interface FetchedChunk {
  topic: string;
  partition: number;
  records: Buffer;
  /** The partition's generation when fetched: a seek or revoke since then makes the chunk stale. */
  generation: number;
  highWatermark: bigint;
  aborted: AbortedTxn[] | null;
  /** The offset after the chunk's last batch (control batches and aborted records included). */
  nextOffset: bigint;
}

export class PartitionFetchState {
  /** Next offset to fetch (runs ahead of `position` by what is buffered). */
  fetchPosition: bigint;
  /** Next offset to hand to the application; what a commit stores. */
  position: bigint;
  paused = false;
  generation = 0;
  /** Set when the position must be looked up (out of range): the reset policy applies. */
  resetting = false;
  highWatermark = -1n;
  /** From the last fetch response (-1 before one, or from a broker too old to send it). */
  lastStableOffset = -1n;

  constructor(
    readonly topic: string,
    readonly partition: number,
    offset: bigint,
  ) {
    this.fetchPosition = offset;
    this.position = offset;
  }
}

export interface FetcherOptions {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  maxPartitionBytes: number;
  /** Fetched bytes held before the application takes them; no fetch is sent while above. */
  maxPrefetchBytes: number;
  isolationLevel: 0 | 1;
  autoOffsetReset: 'earliest' | 'latest' | 'none';
}

/**
 * Keeps one fetch in flight per leader broker for the assigned, unpaused partitions, into a queue
 * bounded by maxPrefetchBytes: the next fetch is under way while the application works on the
 * previous one.
 */
export class Fetcher {
  readonly states = new Map<string, PartitionFetchState>();
  private readonly chunks: FetchedChunk[] = [];
  private bufferedBytes = 0;
  private readonly loops = new Set<number>();
  private consumerWaiter: (() => void) | null = null;
  private roomWaiters: Array<() => void> = [];
  private closed = false;
  /** An error for the application (e.g. out of range with reset 'none'). */
  failure: unknown = null;

  constructor(
    private readonly ctx: ClientContext,
    private readonly o: FetcherOptions,
  ) {}

  get buffered(): number {
    return this.bufferedBytes;
  }

  assign(tp: TopicPartition, offset: bigint): void {
    const st = new PartitionFetchState(tp.topic, tp.partition, offset);
    if (offset < 0n) st.resetting = true;
    this.states.set(tpKey(tp.topic, tp.partition), st);
    this.kick();
  }

  unassign(tp: TopicPartition): void {
    const k = tpKey(tp.topic, tp.partition);
    const st = this.states.get(k);
    if (st === undefined) return;
    st.generation++;
    this.states.delete(k);
    this.dropChunks(tp.topic, tp.partition);
  }

  seek(tp: TopicPartition, offset: bigint): void {
    const st = this.states.get(tpKey(tp.topic, tp.partition));
    if (st === undefined) throw new RangeError(`${tp.topic}-${tp.partition} is not assigned`);
    st.generation++;
    st.position = offset;
    st.fetchPosition = offset;
    st.resetting = offset < 0n;
    this.dropChunks(tp.topic, tp.partition);
    this.kick();
  }

  pause(tp: TopicPartition, paused: boolean): void {
    const st = this.states.get(tpKey(tp.topic, tp.partition));
    if (st === undefined) return;
    st.paused = paused;
    if (!paused) this.kick();
  }

  private dropChunks(topic: string, partition: number): void {
    for (let i = this.chunks.length - 1; i >= 0; i--) {
      const c = this.chunks[i];
      if (c.topic === topic && c.partition === partition) {
        this.chunks.splice(i, 1);
        this.bufferedBytes -= c.records.length;
      }
    }
    this.wakeRoom();
  }

  /**
   * The next chunk, waiting for one (at most `maxWaitMs` when given); null once closed, undefined
   * when interrupted (a rebalance is due) or when the wait ran out.
   */
  async next(maxWaitMs?: number): Promise<FetchedChunk | null | undefined> {
    const deadline = maxWaitMs === undefined ? undefined : Date.now() + maxWaitMs;
    for (;;) {
      if (this.interrupted) {
        this.interrupted = false;
        return undefined;
      }
      if (this.failure !== null) {
        const f = this.failure;
        this.failure = null;
        throw f;
      }
      if (this.closed) return null;
      const c = this.chunks.shift();
      if (c !== undefined) {
        this.bufferedBytes -= c.records.length;
        this.wakeRoom();
        const st = this.states.get(tpKey(c.topic, c.partition));
        if (st === undefined || st.generation !== c.generation || st.paused) {
          // Paused partitions keep their place: fetch again from the position once resumed.
          if (st?.paused && st.generation === c.generation) {
            st.fetchPosition = st.position;
            st.generation++;
          }
          continue;
        }
        return c;
      }
      if (deadline !== undefined && Date.now() >= deadline) return undefined;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.consumerWaiter = resolve;
        if (deadline !== undefined) timer = setTimeout(() => this.wakeConsumer(), deadline - Date.now());
      });
      clearTimeout(timer);
    }
  }

  private interrupted = false;

  /** Makes a waiting (or the next) `next()` return undefined. */
  interrupt(): void {
    this.interrupted = true;
    this.wakeConsumer();
  }

  /** Chunks waiting, without waiting for more. */
  get ready(): number {
    return this.chunks.length;
  }

  private wakeConsumer(): void {
    const w = this.consumerWaiter;
    this.consumerWaiter = null;
    w?.();
  }

  private wakeRoom(): void {
    if (this.bufferedBytes >= this.o.maxPrefetchBytes) return;
    const ws = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of ws) w();
  }

  /** Starts a fetch loop for every leader of an assigned partition that has none. */
  kick(): void {
    if (this.closed) return;
    const leaders = new Set<number>();
    let unknown = false;
    let leaderless = false;
    for (const st of this.states.values()) {
      if (st.paused) continue;
      if (st.resetting) {
        this.reset(st);
        continue;
      }
      const leader = this.ctx.metadata.cached(st.topic)?.partitions[st.partition]?.leader ?? -1;
      // A partition the cached metadata does not have (added since) or without a leader: look again.
      if (leader < 0 && !this.ctx.metadata.stale(st.topic)) {
        this.ctx.metadata.invalidate(st.topic);
        leaderless = true;
      }
      if (leader < 0 || this.ctx.metadata.stale(st.topic)) unknown = true;
      if (leader >= 0) leaders.add(leader);
    }
    for (const l of leaders) if (!this.loops.has(l)) this.loop(l);
    if (unknown) {
      const topics = new Set([...this.states.values()].map((s) => s.topic).filter((t) => this.ctx.metadata.stale(t)));
      Promise.all([...topics].map((t) => this.ctx.metadata.topic(t))).then(
        // Paced while a partition stays without a leader, so that it does not spin on Metadata requests.
        () => (leaderless ? sleep(100).then(() => this.kick()) : this.kick()),
        () => sleep(500).then(() => this.kick()),
      );
    }
  }

  private resetting = new Set<PartitionFetchState>();
  private reset(st: PartitionFetchState): void {
    if (this.resetting.has(st)) return;
    const policy = st.fetchPosition === EARLIEST ? EARLIEST : st.fetchPosition === LATEST ? LATEST : null;
    const which =
      policy ??
      (this.o.autoOffsetReset === 'earliest' ? EARLIEST : this.o.autoOffsetReset === 'latest' ? LATEST : null);
    if (which === null) {
      this.failure = new KafkaError(
        1,
        `${st.topic}-${st.partition}: offset ${st.fetchPosition} out of range and auto offset reset is none`,
      );
      st.paused = true;
      this.wakeConsumer();
      return;
    }
    this.resetting.add(st);
    const gen = st.generation;
    listOffsets(this.ctx, [st], which, this.o.isolationLevel)
      .then((m) => {
        const off = m.get(tpKey(st.topic, st.partition));
        if (off !== undefined && st.generation === gen) {
          st.position = off;
          st.fetchPosition = off;
          st.resetting = false;
        }
      })
      .catch((err) => {
        this.failure = err;
        this.wakeConsumer();
      })
      .finally(() => {
        this.resetting.delete(st);
        this.kick();
      });
  }

  private async loop(leader: number): Promise<void> {
    this.loops.add(leader);
    let failures = 0;
    let again = false;
    try {
      while (!this.closed) {
        while (this.bufferedBytes >= this.o.maxPrefetchBytes && !this.closed) {
          await new Promise<void>((r) => this.roomWaiters.push(r));
        }
        if (this.closed) return;
        const parts: PartitionFetchState[] = [];
        for (const st of this.states.values()) {
          if (st.paused || st.resetting) continue;
          const l = this.ctx.metadata.cached(st.topic)?.partitions[st.partition]?.leader;
          if (l === leader) parts.push(st);
        }
        if (parts.length === 0) return;
        try {
          await this.fetchOnce(leader, parts);
          failures = 0;
        } catch (err) {
          if (this.closed) return;
          for (const st of parts) if (needsMetadataRefresh(err)) this.ctx.metadata.invalidate(st.topic);
          await sleep(backoffMs(failures++, 100, 1000));
          if (!(err instanceof KafkaError && err.retriable)) {
            this.failure = err;
            this.wakeConsumer();
          }
          // Leaders may have moved: look again which loops are needed.
          again = true;
          return;
        }
      }
    } finally {
      this.loops.delete(leader);
      if (again && !this.closed) this.kick();
    }
  }

  private async fetchOnce(leader: number, parts: PartitionFetchState[]): Promise<void> {
    const conn = await this.ctx.pool.get(await this.ctx.metadata.broker(leader), 'fetch');
    const version = conn.version(FetchApi);
    const req: FetchRequest = defaultFetchRequest();
    if (version <= 14) req.replicaId = -1;
    req.maxWaitMs = this.o.maxWaitMs;
    req.minBytes = this.o.minBytes;
    req.maxBytes = Math.max(1, Math.min(this.o.maxBytes, this.o.maxPrefetchBytes - this.bufferedBytes));
    req.isolationLevel = this.o.isolationLevel;
    req.sessionId = 0;
    req.sessionEpoch = -1;
    const byTopic = new Map<string, FetchRequest['topics'][number]>();
    const gens = new Map<string, number>();
    for (const st of parts) {
      let t = byTopic.get(st.topic);
      if (t === undefined) {
        const info = this.ctx.metadata.cached(st.topic);
        t = { topic: st.topic, topicId: info?.topicId ?? ZERO_UUID, partitions: [] };
        byTopic.set(st.topic, t);
        req.topics.push(t);
      }
      t.partitions.push({
        partition: st.partition,
        currentLeaderEpoch: -1,
        fetchOffset: st.fetchPosition,
        lastFetchedEpoch: -1,
        logStartOffset: -1n,
        partitionMaxBytes: this.o.maxPartitionBytes,
        replicaDirectoryId: ZERO_UUID,
        highWatermark: 9223372036854775807n,
      });
      gens.set(tpKey(st.topic, st.partition), st.generation);
    }
    const res = await conn.request(FetchApi, req, { extraTimeoutMs: this.o.maxWaitMs });
    if (res.errorCode !== 0) throw new KafkaError(res.errorCode, 'Fetch');
    const byId = new Map<string, string>();
    for (const t of byTopic.values()) byId.set(t.topicId, t.topic);
    let firstError: KafkaError | null = null;
    for (const t of res.responses) {
      const name = version >= 13 ? (byId.get(t.topicId) ?? t.topic) : t.topic;
      for (const p of t.partitions) {
        const k = tpKey(name, p.partitionIndex);
        const st = this.states.get(k);
        if (st === undefined || st.generation !== gens.get(k)) continue;
        if (p.errorCode !== 0) {
          const err = new KafkaError(p.errorCode, `Fetch ${name}-${p.partitionIndex}`);
          if (p.errorCode === 1) {
            st.resetting = true;
            this.reset(st);
          } else if (needsMetadataRefresh(err)) {
            this.ctx.metadata.invalidate(name);
            firstError ??= err;
          } else firstError ??= err;
          continue;
        }
        st.highWatermark = p.highWatermark;
        st.lastStableOffset = p.lastStableOffset;
        const records = p.records;
        if (records === null || records.length === 0) continue;
        // Advance the fetch position past the whole batches (a trailing partial batch is fetched again).
        const it = iterateBatches(records);
        let next = st.fetchPosition;
        for (const b of it) next = b.nextOffset;
        if (next === st.fetchPosition) continue;
        st.fetchPosition = next;
        const whole = records.subarray(0, it.position);
        this.chunks.push({
          topic: name,
          partition: p.partitionIndex,
          records: whole,
          generation: st.generation,
          highWatermark: p.highWatermark,
          aborted: p.abortedTransactions,
          nextOffset: next,
        });
        this.bufferedBytes += whole.length;
      }
    }
    if (this.chunks.length > 0) this.wakeConsumer();
    if (firstError !== null) throw firstError;
  }

  close(): void {
    this.closed = true;
    this.wakeConsumer();
    for (const w of this.roomWaiters.splice(0)) w();
  }
}
