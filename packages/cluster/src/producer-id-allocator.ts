import type { ProducerIdBlock } from './model.js';

export interface ProducerIdAllocatorOptions {
  /** Fetch the next block once this share of the current one is handed out (Kafka: 90%). */
  prefetchAt?: number;
  onError?: (error: Error) => void;
}

/**
 * A broker's producer ids for InitProducerId, taken from blocks the store reserves for it (Kafka's
 * RPCProducerIdManager). `nextId()` stays synchronous: the next block is fetched in the background
 * before the current one runs out, and while none is at hand it answers null, for which Kafka's
 * answer is COORDINATOR_LOAD_IN_PROGRESS (the client retries).
 */
export class ProducerIdAllocator {
  private next = 0n;
  private end = 0n;
  private prefetchFrom = 0n;
  private queued: ProducerIdBlock | null = null;
  private fetching: Promise<void> | null = null;
  private readonly prefetchAt: number;

  constructor(
    private readonly allocate: () => Promise<ProducerIdBlock>,
    private readonly options: ProducerIdAllocatorOptions = {},
  ) {
    this.prefetchAt = options.prefetchAt ?? 0.9;
  }

  /** Resolves once a block is at hand (call at start-up; rejects if the store refuses). */
  async ready(): Promise<void> {
    if (this.next < this.end || this.queued) return;
    await this.fetch(true);
  }

  nextId(): bigint | null {
    if (this.next >= this.end) {
      if (!this.queued) {
        void this.fetch(false);
        return null;
      }
      this.use(this.queued);
      this.queued = null;
    }
    const id = this.next++;
    if (this.next >= this.prefetchFrom && !this.queued) void this.fetch(false);
    return id;
  }

  private use(block: ProducerIdBlock): void {
    this.next = block.firstProducerId;
    this.end = block.firstProducerId + BigInt(block.size);
    this.prefetchFrom = block.firstProducerId + BigInt(Math.floor(block.size * this.prefetchAt));
  }

  private fetch(rethrow: boolean): Promise<void> {
    this.fetching ??= this.allocate()
      .then((block) => {
        if (this.next >= this.end) this.use(block);
        else this.queued = block;
      })
      .finally(() => {
        this.fetching = null;
      });
    return this.fetching.catch((err: Error) => {
      this.options.onError?.(err);
      if (rethrow) throw err;
    });
  }
}
