import type { MetadataStore } from './metadata-store.js';

/** Producer ids are handed out from blocks reserved in the metadata store, so a restart never reuses one. */
const BLOCK_SIZE = 1000n;

/** Allocates producer ids for InitProducerId (non-transactional producers). */
export class ProducerIdManager {
  private next: bigint;
  private blockEnd: bigint;

  constructor(private readonly store: MetadataStore) {
    this.next = BigInt(store.data.nextProducerId);
    this.blockEnd = this.next;
  }

  nextId(): bigint {
    if (this.next >= this.blockEnd) {
      this.blockEnd = this.next + BLOCK_SIZE;
      this.store.data.nextProducerId = this.blockEnd.toString();
      this.store.save();
    }
    return this.next++;
  }
}
