/**
 * Kafka's `buffered.records.per.partition`: a partition whose queue holds more is paused until it drains
 * (the queue's bound; one fetched chunk may overshoot it once).
 */
export const MAX_BUFFERED_PER_PARTITION = 1000;

/** `max.task.idle.ms` = -1: never wait for an empty partition. */
export const TASK_IDLE_DISABLED = -1;

interface Queue<R> {
  items: R[];
  head: number;
}

/**
 * The input records of a task reading several partitions (a join or a merge), as Kafka Streams'
 * PartitionGroup: one queue per partition, the next record is the queue head with the smallest
 * timestamp, so records are processed in timestamp order across the partitions. While a partition's
 * queue is empty the task waits: always while the consumer knows of records on the broker not yet
 * fetched (or does not know yet), and up to `maxTaskIdleMs` more once the partition is caught up
 * (KIP-695). With -1 it never waits on an empty partition.
 */
export class PartitionGroup<R> {
  private readonly queues = new Map<string, Queue<R>>();
  /** Per empty, caught-up partition: when the task stops waiting for it (wall clock). */
  private readonly idleDeadlines = new Map<string, number>();
  /** Times the task went on with a partition still empty after its idle time (Kafka's enforced processing). */
  enforcedProcessing = 0;

  constructor(
    partitions: readonly string[],
    private readonly maxTaskIdleMs: number,
    /** Records on the broker past the consumer's position; undefined while unknown. */
    private readonly lagOf: (partition: string) => bigint | undefined,
    private readonly timestampOf: (r: R) => number,
  ) {
    if (!(maxTaskIdleMs >= 0 || maxTaskIdleMs === TASK_IDLE_DISABLED))
      throw new RangeError(`maxTaskIdleMs must be >= 0 or -1, got ${maxTaskIdleMs}`);
    for (const p of partitions) this.queues.set(p, { items: [], head: 0 });
  }

  add(partition: string, records: readonly R[]): void {
    const q = this.queues.get(partition);
    if (q === undefined) throw new Error(`no queue for ${partition}`);
    for (const r of records) q.items.push(r);
  }

  /** Records buffered for one partition. */
  size(partition: string): number {
    const q = this.queues.get(partition);
    return q === undefined ? 0 : q.items.length - q.head;
  }

  /** Records buffered in all partitions. */
  get buffered(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.items.length - q.head;
    return n;
  }

  /**
   * Whether the task may process its next record now (Kafka's PartitionGroup.readyToProcess). Called with
   * nothing buffered too: as in Kafka, an empty partition's idle time runs from when it was first seen
   * empty and caught up, not from when a record on another partition started waiting for it.
   */
  readyToProcess(nowMs: number): boolean {
    if (this.maxTaskIdleMs === TASK_IDLE_DISABLED) return this.buffered > 0;
    let enforced = false;
    let queued = false;
    for (const [p, q] of this.queues) {
      if (q.items.length > q.head) {
        this.idleDeadlines.delete(p);
        queued = true;
        continue;
      }
      const lag = this.lagOf(p);
      if (lag === undefined || lag > 0n) {
        // Records we know (or cannot rule out) are on the broker: wait for the fetch, however long.
        this.idleDeadlines.delete(p);
        return false;
      }
      let deadline = this.idleDeadlines.get(p);
      if (deadline === undefined) {
        deadline = nowMs + this.maxTaskIdleMs;
        this.idleDeadlines.set(p, deadline);
      }
      if (nowMs < deadline) return false;
      enforced = true;
    }
    if (!queued) return false;
    if (enforced) this.enforcedProcessing++;
    return true;
  }

  /** Removes and returns the head with the smallest timestamp (the first partition's on a tie). */
  next(): { partition: string; record: R } | undefined {
    let best: Queue<R> | undefined;
    let bestPartition = '';
    let bestTs = Number.POSITIVE_INFINITY;
    for (const [p, q] of this.queues) {
      if (q.items.length === q.head) continue;
      const ts = this.timestampOf(q.items[q.head]);
      if (best === undefined || ts < bestTs) {
        best = q;
        bestPartition = p;
        bestTs = ts;
      }
    }
    if (best === undefined) return undefined;
    const record = best.items[best.head++];
    if (best.head === best.items.length) {
      best.items = [];
      best.head = 0;
    } else if (best.head >= 1024 && best.head * 2 >= best.items.length) {
      best.items = best.items.slice(best.head);
      best.head = 0;
    }
    return { partition: bestPartition, record };
  }
}
