/**
 * Kafka's murmur2 (the Java client's Utils.murmur2): 32-bit MurmurHash2 with seed 0x9747b28c,
 * reading the data as little-endian 4-byte words. Returns a signed 32-bit int, as Java does.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const m = 0x5bd1e995;
  const r = 24;
  let h = (0x9747b28c ^ length) | 0;
  const words = length >>> 2;
  for (let i = 0; i < words; i++) {
    const i4 = i * 4;
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = words * 4;
  // Java's switch falls through: 3 mixes bytes 2, 1 and 0 of the tail; 2 mixes 1 and 0; 1 mixes 0.
  const rest = length & 3;
  if (rest >= 3) h ^= data[tail + 2] << 16;
  if (rest >= 2) h ^= data[tail + 1] << 8;
  if (rest >= 1) {
    h ^= data[tail];
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Java's Utils.toPositive: clears the sign bit (not Math.abs, which differs for MIN_VALUE). */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

/** The partition Java's default partitioner picks for a keyed record. */
export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  return toPositive(murmur2(key)) % numPartitions;
}

/**
 * Keyless records (KIP-480): stick to one partition until its batch is sent, then move on, so
 * keyless records form full batches instead of one small batch per partition.
 */
export class StickyPartitioner {
  private readonly current = new Map<string, number>();

  partition(topic: string, numPartitions: number): number {
    let p = this.current.get(topic);
    if (p === undefined || p >= numPartitions) {
      p = Math.floor(Math.random() * numPartitions);
      this.current.set(topic, p);
    }
    return p;
  }

  /** Called when the sticky partition's batch is closed: pick another partition (a different one if there are several). */
  onNewBatch(topic: string, closedPartition: number, numPartitions: number): void {
    if (this.current.get(topic) !== closedPartition) return;
    let next = Math.floor(Math.random() * numPartitions);
    if (numPartitions > 1 && next === closedPartition) next = (next + 1) % numPartitions;
    this.current.set(topic, next);
  }
}
