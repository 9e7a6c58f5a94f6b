import { ERROR_CODES, KafkaError } from '@sluice/protocol';

/** A partition a fetch session follows, with what the client was last told about it. */
export interface SessionPartition {
  topic: string;
  topicId: string;
  partition: number;
  fetchOffset: bigint;
  maxBytes: number;
  /** Last values sent to the client; an incremental response omits the partition while they hold. */
  sentHighWatermark: bigint;
  sentLogStartOffset: bigint;
}

export interface FetchSession {
  readonly id: number;
  /** The epoch the next request must carry. */
  epoch: number;
  /** Keyed by `topic\0partition`, in the order the client first named them. */
  readonly partitions: Map<string, SessionPartition>;
  lastUsedMs: number;
}

/** Fetch session epochs (KIP-227). */
export const INITIAL_EPOCH = 0;
export const FINAL_EPOCH = -1;
/** Kafka's max.incremental.fetch.session.cache.slots default. */
export const DEFAULT_MAX_SESSIONS = 1000;
/** A bound on partitions in one session, so a client cannot grow one without limit. */
export const MAX_PARTITIONS_PER_SESSION = 100_000;

export const sessionKey = (topic: string, partition: number): string => `${topic}\0${partition}`;

/** What a fetch request asks of the session cache. */
export type SessionAction =
  | { kind: 'sessionless' }
  | { kind: 'new'; session: FetchSession }
  | { kind: 'incremental'; session: FetchSession };

/**
 * Incremental fetch sessions (KIP-227): the broker remembers the partitions a consumer fetches,
 * so that later requests name only what changed and responses carry only partitions with news.
 * The cache holds a bounded number of sessions and evicts the least recently used.
 */
export class FetchSessionCache {
  private readonly sessions = new Map<number, FetchSession>();
  private nextId = 1;

  constructor(
    private readonly maxSessions = DEFAULT_MAX_SESSIONS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Resolves the session fields of a request. Throws KafkaError FETCH_SESSION_ID_NOT_FOUND or
   * INVALID_FETCH_SESSION_EPOCH as Kafka does.
   */
  resolve(sessionId: number, epoch: number): SessionAction {
    if (sessionId === 0) {
      if (epoch === FINAL_EPOCH) return { kind: 'sessionless' };
      if (epoch !== INITIAL_EPOCH) {
        throw new KafkaError(ERROR_CODES.INVALID_FETCH_SESSION_EPOCH, `Invalid epoch ${epoch} without a session id`);
      }
      return this.create();
    }
    const session = this.sessions.get(sessionId);
    if (epoch === FINAL_EPOCH) {
      this.sessions.delete(sessionId);
      return { kind: 'sessionless' };
    }
    if (epoch === INITIAL_EPOCH) {
      this.sessions.delete(sessionId);
      return this.create();
    }
    if (session === undefined) {
      throw new KafkaError(ERROR_CODES.FETCH_SESSION_ID_NOT_FOUND, `Fetch session ${sessionId} not found`);
    }
    if (session.epoch !== epoch) {
      throw new KafkaError(
        ERROR_CODES.INVALID_FETCH_SESSION_EPOCH,
        `Fetch session ${sessionId} expected epoch ${session.epoch}, but got ${epoch}`,
      );
    }
    session.lastUsedMs = this.now();
    // Refresh its place in the LRU order.
    this.sessions.delete(sessionId);
    this.sessions.set(sessionId, session);
    return { kind: 'incremental', session };
  }

  private create(): SessionAction {
    if (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value as number;
      this.sessions.delete(oldest);
    }
    const id = this.allocateId();
    const session: FetchSession = { id, epoch: 1, partitions: new Map(), lastUsedMs: this.now() };
    this.sessions.set(id, session);
    return { kind: 'new', session };
  }

  private allocateId(): number {
    // Bounded: at most maxSessions ids are taken, so a free one is found within maxSessions + 1 steps.
    for (;;) {
      const id = this.nextId;
      this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
      if (!this.sessions.has(id)) return id;
    }
  }

  /** Drops sessions of a deleted topic's partitions. */
  forgetTopic(topic: string): void {
    for (const s of this.sessions.values()) {
      for (const [k, p] of s.partitions) if (p.topic === topic) s.partitions.delete(k);
    }
  }

  remove(sessionId: number): void {
    this.sessions.delete(sessionId);
  }
}

/** Advances a session's epoch after a response, wrapping as Kafka's nextEpoch does. */
export function nextEpoch(epoch: number): number {
  return epoch >= 0x7fffffff ? 1 : epoch + 1;
}
