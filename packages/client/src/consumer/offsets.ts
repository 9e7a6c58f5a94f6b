import { defaultListOffsetsRequest, ListOffsetsApi } from '@sluice/protocol';
import type { ClientContext } from '../client.js';
import { ERROR_CODES, KafkaError, needsMetadataRefresh } from '../errors.js';
import { withRetry } from '../retry.js';

export const EARLIEST = -2n;
export const LATEST = -1n;

export interface TopicPartition {
  topic: string;
  partition: number;
}

export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/**
 * ListOffsets for many partitions, grouped by leader. `timestamp` is -2 (earliest), -1 (latest)
 * or a time in ms (the first offset at or after it). Returns offsets keyed by tpKey.
 */
export async function listOffsets(
  ctx: ClientContext,
  partitions: readonly TopicPartition[],
  timestamp: bigint,
  isolationLevel = 0,
): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  await withRetry(
    async () => {
      const byLeader = new Map<number, TopicPartition[]>();
      for (const tp of partitions) {
        if (out.has(tpKey(tp.topic, tp.partition))) continue;
        const t = await ctx.metadata.topic(tp.topic);
        const leader = t.partitions[tp.partition]?.leader ?? -1;
        if (leader < 0) {
          // Added since the metadata was cached, or between leaders: retried after a refresh.
          ctx.metadata.invalidate(tp.topic);
          throw new KafkaError(ERROR_CODES.LEADER_NOT_AVAILABLE, `${tp.topic}-${tp.partition} has no known leader`);
        }
        let list = byLeader.get(leader);
        if (list === undefined) {
          list = [];
          byLeader.set(leader, list);
        }
        list.push(tp);
      }
      await Promise.all(
        [...byLeader].map(async ([leader, tps]) => {
          const conn = await ctx.pool.get(await ctx.metadata.broker(leader));
          const req = defaultListOffsetsRequest();
          req.replicaId = -1;
          req.isolationLevel = isolationLevel;
          req.timeoutMs = 30_000;
          const topics = new Map<string, (typeof req.topics)[number]>();
          for (const tp of tps) {
            let t = topics.get(tp.topic);
            if (t === undefined) {
              t = { name: tp.topic, partitions: [] };
              topics.set(tp.topic, t);
              req.topics.push(t);
            }
            t.partitions.push({ partitionIndex: tp.partition, currentLeaderEpoch: -1, timestamp });
          }
          const res = await conn.request(ListOffsetsApi, req);
          for (const t of res.topics) {
            for (const p of t.partitions) {
              if (p.errorCode !== 0) {
                const err = new KafkaError(p.errorCode, `ListOffsets ${t.name}-${p.partitionIndex}`);
                if (needsMetadataRefresh(err)) ctx.metadata.invalidate(t.name);
                throw err;
              }
              out.set(tpKey(t.name, p.partitionIndex), p.offset);
            }
          }
        }),
      );
    },
    { retries: ctx.options.retries ?? 5 },
  );
  return out;
}
