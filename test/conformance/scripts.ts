import {
  type ApiDefinition,
  buildRecordBatchSync,
  CreateTopicsApi,
  FetchApi,
  type FetchRequest,
  ListOffsetsApi,
  MetadataApi,
  type MetadataResponse,
  ProduceApi,
  type ProduceResponse,
  type RecordInput,
} from '@sluice/protocol';
import type { BrokerUnderTest } from './brokers.js';
import type { WireClient } from './wire-client.js';

// Building blocks for the request scripts: one side of the comparison (a broker and a connection
// to it), version choice, topic set-up, record batches with fixed timestamps.

/** One broker as a script sees it. */
export interface Side {
  readonly broker: BrokerUnderTest;
  readonly client: WireClient;
  /** Opens another connection (for long polls and group members that must not block the main one). */
  connect(clientId?: string): Promise<WireClient>;
}

/** [min, max] by API key, from each broker's ApiVersions. */
export type Ranges = Map<number, [number, number]>;

/** Timestamps in every batch the suite writes, so that both brokers store the same bytes. */
export const T0 = Date.now() - 60_000;

export function batch(
  records: readonly RecordInput[],
  options: Parameters<typeof buildRecordBatchSync>[0] | object = {},
) {
  return buildRecordBatchSync({
    now: T0,
    ...options,
    records: records.map((r, i) => ({ timestamp: T0 + i, ...r })),
  });
}

export function values(prefix: string, n: number, size = 0): RecordInput[] {
  return Array.from({ length: n }, (_, i) => ({
    key: `${prefix}-k${i}`,
    value: `${prefix}-v${i}`.padEnd(size, '.'),
  }));
}

/** The newest version the codec, Kafka and Sluice all serve, and an old one (clamped into that range). */
export class Versions {
  constructor(
    private readonly kafka: Ranges,
    private readonly sluice: Ranges,
  ) {}

  common(api: ApiDefinition): [number, number] {
    const k = this.kafka.get(api.apiKey);
    const s = this.sluice.get(api.apiKey);
    if (!k || !s) throw new Error(`${api.name} is not served by ${!k ? 'Kafka' : 'Sluice'}`);
    const lo = Math.max(k[0], s[0], api.minVersion);
    const hi = Math.min(k[1], s[1], api.maxVersion);
    if (lo > hi) throw new Error(`${api.name}: no version both brokers serve`);
    return [lo, hi];
  }

  newest(api: ApiDefinition): number {
    return this.common(api)[1];
  }

  /** `preferred` if both serve it, else the nearest version both serve. */
  old(api: ApiDefinition, preferred: number): number {
    const [lo, hi] = this.common(api);
    return Math.min(hi, Math.max(lo, preferred));
  }
}

export async function createTopic(
  side: Side,
  name: string,
  options: { partitions?: number; configs?: Record<string, string> } = {},
): Promise<string> {
  const res = await side.client.send(CreateTopicsApi, 5, {
    topics: [
      {
        name,
        numPartitions: options.partitions ?? 1,
        replicationFactor: 1,
        assignments: [],
        configs: Object.entries(options.configs ?? {}).map(([k, v]) => ({ name: k, value: v })),
      },
    ],
    timeoutMs: 30_000,
    validateOnly: false,
  });
  const t = res.topics[0];
  if (t?.errorCode !== 0)
    throw new Error(`${side.broker.kind}: creating ${name}: error ${t?.errorCode} ${t?.errorMessage}`);
  // CreateTopics only returns the topic id from v7; Metadata has it from v10.
  const md = await waitForLeaders(side, name);
  await waitForPartitionsReady(side, name, md.topics[0]!.partitions.length);
  return md.topics[0]!.topicId;
}

/** How long a new topic may take to get leaders and answer ListOffsets (both brokers answer in well under a second when idle). */
const READY_WITHIN_MS = 30_000;

/**
 * Polls ListOffsets (latest) until every partition answers without error. Kafka's Metadata can name a
 * leader before the broker's replica manager has made itself leader, and a produce in that window fails
 * with NOT_LEADER_OR_FOLLOWER; ListOffsets goes through the same leader check.
 */
export async function waitForPartitionsReady(side: Side, topic: string, partitions: number): Promise<void> {
  let last: number[] = [];
  // By the clock, not by tries: on a loaded 2-core CI machine a JVM broker can take many seconds.
  const deadline = Date.now() + READY_WITHIN_MS;
  while (Date.now() < deadline) {
    const res = await side.client.send(ListOffsetsApi, 7, {
      replicaId: -1,
      isolationLevel: 0,
      timeoutMs: 10_000,
      topics: [
        {
          name: topic,
          partitions: Array.from({ length: partitions }, (_, partitionIndex) => ({
            partitionIndex,
            currentLeaderEpoch: -1,
            timestamp: -1n,
          })),
        },
      ],
    });
    last = res.topics.flatMap((t) => t.partitions.map((p) => p.errorCode));
    if (last.length === partitions && last.every((c) => c === 0)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${side.broker.kind}: ${topic}: partitions not ready after ${READY_WITHIN_MS / 1000} s (errors ${last.join(', ')})`,
  );
}

/** Polls Metadata until every partition of `topic` has a leader (Kafka's metadata propagates asynchronously). */
export async function waitForLeaders(side: Side, topic: string): Promise<MetadataResponse> {
  const deadline = Date.now() + READY_WITHIN_MS;
  while (Date.now() < deadline) {
    const md = await side.client.send(MetadataApi, 12, {
      topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: topic }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: false,
      includeTopicAuthorizedOperations: false,
    });
    const t = md.topics[0];
    if (t && t.errorCode === 0 && t.partitions.length > 0 && t.partitions.every((p) => p.leaderId >= 0)) return md;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${side.broker.kind}: ${topic} has no leader after ${READY_WITHIN_MS / 1000} s`);
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
/** The id scripts send for a topic that does not exist (any id neither broker gave out). */
export const UNKNOWN_TOPIC_ID = '5ca1ab1e-0000-4000-8000-00000000dead';

export function produceRequest(
  topic: string,
  records: Buffer | null,
  options: { acks?: number; partition?: number; timeoutMs?: number; topicId?: string } = {},
) {
  return {
    transactionalId: null,
    acks: options.acks ?? -1,
    timeoutMs: options.timeoutMs ?? 10_000,
    topicData: [
      {
        name: topic,
        topicId: options.topicId ?? ZERO_UUID,
        partitionData: [{ index: options.partition ?? 0, records }],
      },
    ],
  };
}

/**
 * Reads until the answer holds still: the same (JSON) answer `stableReads` times in a row, 100 ms apart,
 * at most `maxReads` reads. Kafka acknowledges an AlterConfigs once its controller has committed the
 * change, and a broker serves DescribeConfigs from its metadata image, which catches up a moment later:
 * a single read right after the alter can still show the old value (seen under load).
 */
export async function settled<T>(read: () => Promise<T>, stableReads = 3, maxReads = 50): Promise<T> {
  const key = (x: T) => JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
  let last = await read();
  let same = 1;
  for (let i = 1; i < maxReads && same < stableReads; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const next = await read();
    same = key(next) === key(last) ? same + 1 : 1;
    last = next;
  }
  return last;
}

/** A topic's id on `side` (Metadata), or UNKNOWN_TOPIC_ID when it has none. */
export async function topicIdOf(side: Side, topic: string): Promise<string> {
  const md = await side.client.send(MetadataApi, 12, {
    topics: [{ topicId: ZERO_UUID, name: topic }],
    allowAutoTopicCreation: false,
    includeClusterAuthorizedOperations: false,
    includeTopicAuthorizedOperations: false,
  });
  const t = md.topics[0];
  return t !== undefined && t.errorCode === 0 && t.topicId !== ZERO_UUID ? t.topicId : UNKNOWN_TOPIC_ID;
}

/** Produces one batch; from v13 the request names the topic by its id (KIP-516). */
export async function produce(
  side: Side,
  version: number,
  topic: string,
  records: Buffer,
  options: { acks?: number; partition?: number } = {},
): Promise<ProduceResponse> {
  const topicId = version >= 13 ? await topicIdOf(side, topic) : ZERO_UUID;
  return side.client.send(ProduceApi, version, produceRequest(topic, records, { ...options, topicId }));
}

export interface FetchPartitionSpec {
  partition: number;
  fetchOffset: bigint;
  partitionMaxBytes?: number;
}

export function fetchRequest(
  version: number,
  topic: string,
  topicId: string,
  partitions: readonly FetchPartitionSpec[],
  options: Partial<Pick<FetchRequest, 'maxWaitMs' | 'minBytes' | 'maxBytes' | 'sessionId' | 'sessionEpoch'>> = {},
): FetchRequest {
  return {
    ...FetchApi.request.defaults(),
    maxWaitMs: 0,
    minBytes: 0,
    maxBytes: 1024 * 1024,
    sessionId: 0,
    sessionEpoch: -1,
    ...options,
    topics:
      partitions.length === 0
        ? []
        : [
            {
              topic: version >= 13 ? '' : topic,
              topicId: version >= 13 ? topicId : '00000000-0000-0000-0000-000000000000',
              partitions: partitions.map((p) => ({
                partition: p.partition,
                currentLeaderEpoch: -1,
                fetchOffset: p.fetchOffset,
                lastFetchedEpoch: -1,
                logStartOffset: -1n,
                partitionMaxBytes: p.partitionMaxBytes ?? 1024 * 1024,
                replicaDirectoryId: '00000000-0000-0000-0000-000000000000',
                highWatermark: 0x7fffffffffffffffn,
              })),
            },
          ],
  };
}
