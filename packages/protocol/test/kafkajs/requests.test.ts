// Wire compatibility of requests with kafkajs 2.2.4: for every API folder and version kafkajs
// implements, kafkajs frames a request (size, header v1, body) and we
//   1. decode the frame here (header with requestHeaderVersion, body with the generated codec) to
//      exactly the fields the kafkajs arguments map to (all other fields at their defaults), and
//   2. encode those expected fields here into a frame that is byte-identical to kafkajs's.
//
// kafkajs quirks met here (kept as kafkajs does them, not worked around):
// - AlterPartitionReassignments v0 and ListPartitionReassignments v0 are flexible versions, whose
//   request header is v2 (ends with a tagged-field section). kafkajs frames every request with
//   header v1 and writes the header's empty tagged-field section as the first byte of the body
//   (`writeUVarIntBytes()`), so its frames are correct on the wire; only its body alone is not.
// - ListPartitionReassignments: `topics = null` (all reassignments) is written as a compact array of
//   length 0 (one byte 0x00) by kafkajs's writeUVarIntArray(null), i.e. an empty list, not null.
// - Nullable arrays: kafkajs's writeNullableArray writes an empty array as null (-1) and crashes on
//   null (CreatePartitions assignments, DescribeConfigs configuration keys): [] and null are the
//   same thing to kafkajs, not to Kafka (for DescribeConfigs, null means "all configs").
// - SaslAuthenticate: kafkajs writes `authBytes` without the int32 length of BYTES; its callers (the
//   SASL mechanisms) pass bytes that already carry the prefix.
// - OffsetFetch v2+: the Topics array is nullable (null = all partitions), but kafkajs calls
//   `topics.map` first, so it can never send null.
// - Produce v3+: kafkajs sorts record timestamps as strings (`.sort()` without a comparator) to
//   pick the first and max timestamp; with equal-length timestamps this is the numeric order.
import { describe, expect, it } from 'vitest';
import {
  apiByKey,
  Reader,
  RequestHeaderCodec,
  requestHeaderVersion,
  Writer,
  writeRequestFrame,
} from '../../src/index.js';
import { codecHas, type KjsEncoder, kafkajsApis, kafkajsModule, kafkajsRequest, shape } from './helpers.js';

type Msg = Record<string, unknown>;

interface RequestCase {
  /** Our API name (the schema is `<name>Request`). */
  api: string;
  /** Arguments for kafkajs's request factory; kafkajs ignores the ones a version does not use. */
  args: (v: number) => unknown;
  /** The same request in our field names, for the newest version kafkajs has (shape() trims it). */
  ours: (v: number) => Msg;
}

const LONG_ID = 1234567890123n;

/** One representative message per kafkajs API folder. */
const CASES: Record<string, RequestCase> = {
  addOffsetsToTxn: {
    api: 'AddOffsetsToTxn',
    args: () => ({ transactionalId: 'tx-1', producerId: LONG_ID.toString(), producerEpoch: 3, groupId: 'grp' }),
    ours: () => ({ transactionalId: 'tx-1', producerId: LONG_ID, producerEpoch: 3, groupId: 'grp' }),
  },
  addPartitionsToTxn: {
    api: 'AddPartitionsToTxn',
    args: () => ({
      transactionalId: 'tx-1',
      producerId: LONG_ID.toString(),
      producerEpoch: 3,
      topics: [
        { topic: 't1', partitions: [0, 2] },
        { topic: 't2', partitions: [1] },
      ],
    }),
    ours: () => ({
      v3AndBelowTransactionalId: 'tx-1',
      v3AndBelowProducerId: LONG_ID,
      v3AndBelowProducerEpoch: 3,
      v3AndBelowTopics: [
        { name: 't1', partitions: [0, 2] },
        { name: 't2', partitions: [1] },
      ],
    }),
  },
  alterConfigs: {
    api: 'AlterConfigs',
    args: () => ({
      resources: [
        {
          type: 2,
          name: 'topic-a',
          configEntries: [
            { name: 'retention.ms', value: '1000' },
            { name: 'cleanup.policy', value: 'compact' },
          ],
        },
      ],
      validateOnly: true,
    }),
    ours: () => ({
      resources: [
        {
          resourceType: 2,
          resourceName: 'topic-a',
          configs: [
            { name: 'retention.ms', value: '1000' },
            { name: 'cleanup.policy', value: 'compact' },
          ],
        },
      ],
      validateOnly: true,
    }),
  },
  alterPartitionReassignments: {
    api: 'AlterPartitionReassignments',
    args: () => ({
      topics: [{ topic: 't', partitionAssignment: [{ partition: 0, replicas: [1, 2, 3] }] }],
      timeout: 30000,
    }),
    ours: () => ({
      timeoutMs: 30000,
      topics: [{ name: 't', partitions: [{ partitionIndex: 0, replicas: [1, 2, 3] }] }],
    }),
  },
  apiVersions: { api: 'ApiVersions', args: () => undefined, ours: () => ({}) },
  createAcls: {
    api: 'CreateAcls',
    args: () => ({
      creations: [
        {
          resourceType: 2,
          resourceName: 'topic-a',
          resourcePatternType: 4,
          principal: 'User:bob',
          host: '*',
          operation: 3,
          permissionType: 3,
        },
      ],
    }),
    ours: () => ({
      creations: [
        {
          resourceType: 2,
          resourceName: 'topic-a',
          resourcePatternType: 4,
          principal: 'User:bob',
          host: '*',
          operation: 3,
          permissionType: 3,
        },
      ],
    }),
  },
  createPartitions: {
    api: 'CreatePartitions',
    args: () => ({
      topicPartitions: [
        {
          topic: 't',
          count: 6,
          assignments: [
            [1, 2],
            [2, 3],
          ],
        },
        // kafkajs's writeNullableArray writes an empty array as null (-1): no manual assignment.
        { topic: 'u', count: 2 },
      ],
      validateOnly: true,
      timeout: 3000,
    }),
    ours: () => ({
      topics: [
        { name: 't', count: 6, assignments: [{ brokerIds: [1, 2] }, { brokerIds: [2, 3] }] },
        { name: 'u', count: 2, assignments: null },
      ],
      timeoutMs: 3000,
      validateOnly: true,
    }),
  },
  createTopics: {
    api: 'CreateTopics',
    args: () => ({
      topics: [
        {
          topic: 't',
          numPartitions: 3,
          replicationFactor: 2,
          replicaAssignment: [{ partition: 0, replicas: [1, 2] }],
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
      validateOnly: true,
      timeout: 4000,
    }),
    ours: () => ({
      topics: [
        {
          name: 't',
          numPartitions: 3,
          replicationFactor: 2,
          assignments: [{ partitionIndex: 0, brokerIds: [1, 2] }],
          configs: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
      timeoutMs: 4000,
      validateOnly: true,
    }),
  },
  deleteAcls: {
    api: 'DeleteAcls',
    args: () => ({
      filters: [
        {
          resourceType: 2,
          resourceName: 'topic-a',
          resourcePatternType: 4,
          principal: 'User:bob',
          host: null,
          operation: 2,
          permissionType: 3,
        },
      ],
    }),
    ours: () => ({
      filters: [
        {
          resourceTypeFilter: 2,
          resourceNameFilter: 'topic-a',
          patternTypeFilter: 4,
          principalFilter: 'User:bob',
          hostFilter: null,
          operation: 2,
          permissionType: 3,
        },
      ],
    }),
  },
  // kafkajs takes the group ids as the bare argument, not as an object.
  deleteGroups: { api: 'DeleteGroups', args: () => ['g1', 'g2'], ours: () => ({ groupsNames: ['g1', 'g2'] }) },
  deleteRecords: {
    api: 'DeleteRecords',
    args: () => ({ topics: [{ topic: 't', partitions: [{ partition: 1, offset: '100' }] }], timeout: 2500 }),
    ours: () => ({ topics: [{ name: 't', partitions: [{ partitionIndex: 1, offset: 100n }] }], timeoutMs: 2500 }),
  },
  deleteTopics: {
    api: 'DeleteTopics',
    args: () => ({ topics: ['a', 'b'], timeout: 2000 }),
    ours: () => ({ topicNames: ['a', 'b'], timeoutMs: 2000 }),
  },
  describeAcls: {
    api: 'DescribeAcls',
    args: () => ({
      resourceType: 2,
      resourceName: null,
      resourcePatternType: 1,
      principal: 'User:bob',
      host: '*',
      operation: 1,
      permissionType: 1,
    }),
    ours: () => ({
      resourceTypeFilter: 2,
      resourceNameFilter: null,
      patternTypeFilter: 1,
      principalFilter: 'User:bob',
      hostFilter: '*',
      operation: 1,
      permissionType: 1,
    }),
  },
  describeConfigs: {
    api: 'DescribeConfigs',
    args: () => ({
      resources: [
        { type: 2, name: 't', configNames: ['retention.ms', 'cleanup.policy'] },
        // kafkajs writes an empty list as null (all configs); a null list would crash it.
        { type: 4, name: '1', configNames: [] },
      ],
      includeSynonyms: true,
    }),
    ours: () => ({
      resources: [
        { resourceType: 2, resourceName: 't', configurationKeys: ['retention.ms', 'cleanup.policy'] },
        { resourceType: 4, resourceName: '1', configurationKeys: null },
      ],
      includeSynonyms: true,
    }),
  },
  describeGroups: {
    api: 'DescribeGroups',
    args: () => ({ groupIds: ['g1', 'g2'] }),
    ours: () => ({ groups: ['g1', 'g2'] }),
  },
  endTxn: {
    api: 'EndTxn',
    args: () => ({
      transactionalId: 'tx-1',
      producerId: LONG_ID.toString(),
      producerEpoch: 7,
      transactionResult: true,
    }),
    ours: () => ({ transactionalId: 'tx-1', producerId: LONG_ID, producerEpoch: 7, committed: true }),
  },
  fetch: {
    api: 'Fetch',
    args: () => ({
      replicaId: -1,
      maxWaitTime: 500,
      minBytes: 1,
      maxBytes: 1048576,
      isolationLevel: 1,
      sessionId: 7,
      sessionEpoch: 2,
      topics: [
        {
          topic: 't',
          partitions: [
            { partition: 0, currentLeaderEpoch: 5, fetchOffset: '42', logStartOffset: '3', maxBytes: 65536 },
            { partition: 3, currentLeaderEpoch: 6, fetchOffset: '9007199254740993', logStartOffset: '0', maxBytes: 1 },
          ],
        },
      ],
      forgottenTopics: [{ topic: 'old', partitions: [1, 2] }],
      rackId: 'rack-1',
    }),
    ours: () => ({
      replicaId: -1,
      maxWaitMs: 500,
      minBytes: 1,
      maxBytes: 1048576,
      isolationLevel: 1,
      sessionId: 7,
      sessionEpoch: 2,
      topics: [
        {
          topic: 't',
          partitions: [
            { partition: 0, currentLeaderEpoch: 5, fetchOffset: 42n, logStartOffset: 3n, partitionMaxBytes: 65536 },
            {
              partition: 3,
              currentLeaderEpoch: 6,
              fetchOffset: 9007199254740993n,
              logStartOffset: 0n,
              partitionMaxBytes: 1,
            },
          ],
        },
      ],
      forgottenTopicsData: [{ topic: 'old', partitions: [1, 2] }],
      rackId: 'rack-1',
    }),
  },
  findCoordinator: {
    api: 'FindCoordinator',
    // v0 takes `groupId`, v1+ `coordinatorKey` and `coordinatorType` (1 = transaction).
    args: () => ({ groupId: 'grp', coordinatorKey: 'tx-1', coordinatorType: 1 }),
    ours: (v) => (v === 0 ? { key: 'grp' } : { key: 'tx-1', keyType: 1 }),
  },
  heartbeat: {
    api: 'Heartbeat',
    args: () => ({ groupId: 'grp', groupGenerationId: 5, memberId: 'm-1', groupInstanceId: 'inst-1' }),
    ours: () => ({ groupId: 'grp', generationId: 5, memberId: 'm-1', groupInstanceId: 'inst-1' }),
  },
  initProducerId: {
    api: 'InitProducerId',
    args: () => ({ transactionalId: 'tx-1', transactionTimeout: 60000 }),
    ours: () => ({ transactionalId: 'tx-1', transactionTimeoutMs: 60000 }),
  },
  joinGroup: {
    api: 'JoinGroup',
    args: () => ({
      groupId: 'grp',
      sessionTimeout: 30000,
      rebalanceTimeout: 60000,
      memberId: '',
      groupInstanceId: 'inst-1',
      protocolType: 'consumer',
      groupProtocols: [
        { name: 'RoundRobinAssigner', metadata: Buffer.from([0, 1, 0, 0, 0, 1, 0, 1, 116]) },
        { name: 'Other', metadata: Buffer.alloc(0) },
      ],
    }),
    ours: () => ({
      groupId: 'grp',
      sessionTimeoutMs: 30000,
      rebalanceTimeoutMs: 60000,
      memberId: '',
      groupInstanceId: 'inst-1',
      protocolType: 'consumer',
      protocols: [
        { name: 'RoundRobinAssigner', metadata: Buffer.from([0, 1, 0, 0, 0, 1, 0, 1, 116]) },
        { name: 'Other', metadata: Buffer.alloc(0) },
      ],
    }),
  },
  leaveGroup: {
    api: 'LeaveGroup',
    // v0–v2 name one member; v3 (KIP-345) a list of members.
    args: () => ({
      groupId: 'grp',
      memberId: 'm-1',
      members: [{ memberId: 'm-1', groupInstanceId: 'inst-1' }, { memberId: 'm-2' }],
    }),
    ours: () => ({
      groupId: 'grp',
      memberId: 'm-1',
      members: [
        { memberId: 'm-1', groupInstanceId: 'inst-1' },
        { memberId: 'm-2', groupInstanceId: null },
      ],
    }),
  },
  listGroups: { api: 'ListGroups', args: () => undefined, ours: () => ({}) },
  listOffsets: {
    api: 'ListOffsets',
    args: () => ({
      replicaId: -1,
      isolationLevel: 1,
      topics: [
        {
          topic: 't',
          partitions: [
            { partition: 0, timestamp: '-2' },
            { partition: 1, timestamp: '1700000000000' },
          ],
        },
      ],
    }),
    ours: () => ({
      replicaId: -1,
      isolationLevel: 1,
      topics: [
        {
          name: 't',
          partitions: [
            { partitionIndex: 0, timestamp: -2n },
            { partitionIndex: 1, timestamp: 1700000000000n },
          ],
        },
      ],
    }),
  },
  listPartitionReassignments: {
    api: 'ListPartitionReassignments',
    args: () => ({ topics: [{ topic: 't', partitions: [0, 1] }], timeout: 10000 }),
    ours: () => ({ timeoutMs: 10000, topics: [{ name: 't', partitionIndexes: [0, 1] }] }),
  },
  metadata: {
    api: 'Metadata',
    args: () => ({ topics: ['a', 'b'], allowAutoTopicCreation: false }),
    ours: () => ({ topics: [{ name: 'a' }, { name: 'b' }], allowAutoTopicCreation: false }),
  },
  offsetCommit: {
    api: 'OffsetCommit',
    args: () => ({
      groupId: 'grp',
      groupGenerationId: 3,
      memberId: 'm-1',
      retentionTime: '86400000',
      topics: [
        {
          topic: 't',
          partitions: [
            { partition: 0, offset: '100', timestamp: '1700000000000', metadata: 'meta' },
            { partition: 1, offset: '5', timestamp: '1700000000001' },
          ],
        },
      ],
    }),
    ours: () => ({
      groupId: 'grp',
      generationIdOrMemberEpoch: 3,
      memberId: 'm-1',
      retentionTimeMs: 86400000n,
      topics: [
        {
          name: 't',
          partitions: [
            // The per-partition timestamps kafkajs passes go on the wire only in v1, which Kafka 4 removed.
            { partitionIndex: 0, committedOffset: 100n, committedMetadata: 'meta' },
            { partitionIndex: 1, committedOffset: 5n, committedMetadata: null },
          ],
        },
      ],
    }),
  },
  offsetFetch: {
    api: 'OffsetFetch',
    args: () => ({ groupId: 'grp', topics: [{ topic: 't', partitions: [{ partition: 0 }, { partition: 2 }] }] }),
    ours: () => ({ groupId: 'grp', topics: [{ name: 't', partitionIndexes: [0, 2] }] }),
  },
  produce: {
    api: 'Produce',
    args: () => ({
      acks: -1,
      timeout: 30000,
      transactionalId: 'tx-1',
      producerId: LONG_ID.toString(),
      producerEpoch: 2,
      topicData: [
        {
          topic: 't',
          partitions: [
            {
              partition: 0,
              firstSequence: 10,
              messages: [
                { key: 'k1', value: 'v1', timestamp: 1700000000000, headers: { h: 'x' } },
                { key: null, value: 'v2', timestamp: 1700000000005 },
              ],
            },
          ],
        },
      ],
    }),
    ours: (v) => ({
      transactionalId: 'tx-1',
      acks: -1,
      timeoutMs: 30000,
      topicData: [{ name: 't', partitionData: [{ index: 0, records: recordsMatcher(v, 2) }] }],
    }),
  },
  saslAuthenticate: {
    api: 'SaslAuthenticate',
    // kafkajs writes authBytes raw: its SASL mechanisms hand it bytes already length-prefixed.
    args: () => ({ authBytes: kafkajsBytes(Buffer.from('\0user\0secret')) }),
    ours: () => ({ authBytes: Buffer.from('\0user\0secret') }),
  },
  saslHandshake: { api: 'SaslHandshake', args: () => ({ mechanism: 'PLAIN' }), ours: () => ({ mechanism: 'PLAIN' }) },
  syncGroup: {
    api: 'SyncGroup',
    args: () => ({
      groupId: 'grp',
      generationId: 4,
      memberId: 'm-1',
      groupInstanceId: 'inst-1',
      groupAssignment: [
        { memberId: 'm-1', memberAssignment: Buffer.from([0, 1, 2]) },
        { memberId: 'm-2', memberAssignment: Buffer.alloc(0) },
      ],
    }),
    ours: () => ({
      groupId: 'grp',
      generationId: 4,
      memberId: 'm-1',
      groupInstanceId: 'inst-1',
      assignments: [
        { memberId: 'm-1', assignment: Buffer.from([0, 1, 2]) },
        { memberId: 'm-2', assignment: Buffer.alloc(0) },
      ],
    }),
  },
  txnOffsetCommit: {
    api: 'TxnOffsetCommit',
    args: () => ({
      transactionalId: 'tx-1',
      groupId: 'grp',
      producerId: LONG_ID.toString(),
      producerEpoch: 1,
      topics: [{ topic: 't', partitions: [{ partition: 2, offset: '77', metadata: null }] }],
    }),
    ours: () => ({
      transactionalId: 'tx-1',
      groupId: 'grp',
      producerId: LONG_ID,
      producerEpoch: 1,
      topics: [{ name: 't', partitions: [{ partitionIndex: 2, committedOffset: 77n, committedMetadata: null }] }],
    }),
  },
};

/**
 * The records of a Produce request: a message set (v0–v2, magic 0/1) or a record batch (v3+, magic
 * 2) holding `count` records, whose length fields agree with the slice our decoder cut. The
 * records themselves are compared field by field in record-batch.test.ts.
 */
function recordsMatcher(version: number, count: number) {
  return {
    asymmetricMatch(actual: unknown): boolean {
      if (!Buffer.isBuffer(actual)) return false;
      if (version >= 3) {
        return (
          actual.length >= 61 &&
          actual.readBigInt64BE(0) === 0n &&
          actual.readInt32BE(8) === actual.length - 12 &&
          actual.readInt8(16) === 2 &&
          actual.readInt32BE(57) === count
        );
      }
      // Message set: [offset int64, size int32, message]*; magic at byte 4 of each message.
      let at = 0;
      let n = 0;
      while (at + 12 <= actual.length) {
        const size = actual.readInt32BE(at + 8);
        if (actual.readInt8(at + 12 + 4) !== (version === 2 ? 1 : 0)) return false;
        at += 12 + size;
        n++;
      }
      return at === actual.length && n === count;
    },
    toString: () => `RecordsOf(${count})`,
  };
}

const KjsEncoderClass =
  kafkajsModule<new () => KjsEncoder & { writeBytes(b: Buffer): KjsEncoder }>('protocol/encoder.js');
/** `bytes` with kafkajs's own int32 length prefix. */
const kafkajsBytes = (b: Buffer): Buffer => new KjsEncoderClass().writeBytes(b).buffer;

const kafkajsRequestFrame =
  kafkajsModule<(a: { correlationId: number; clientId: string; request: unknown }) => Promise<KjsEncoder>>(
    'protocol/request.js',
  );

/** Our objects with any asymmetric matcher replaced by the value that was decoded there. */
function resolveMatchers(expected: unknown, decoded: unknown): unknown {
  if (expected !== null && typeof expected === 'object' && 'asymmetricMatch' in expected) return decoded;
  if (Array.isArray(expected)) return expected.map((e, i) => resolveMatchers(e, (decoded as unknown[])[i]));
  if (expected !== null && typeof expected === 'object' && !Buffer.isBuffer(expected)) {
    const out: Msg = {};
    for (const [k, v] of Object.entries(expected)) out[k] = resolveMatchers(v, (decoded as Msg)[k]);
    return out;
  }
  return expected;
}

const apis = kafkajsApis();
/** The API key of a kafkajs folder's requests. */
const keyOf = (folder: string, version: number) => kafkajsRequest(folder, version)(CASES[folder].args(version)).apiKey;
const rows = apis
  .flatMap(({ folder, versions }) => versions.map((version) => ({ folder, version })))
  .filter(({ folder, version }) => codecHas(keyOf(folder, version), version));

describe('kafkajs request compatibility', () => {
  it('covers every API folder kafkajs has', () => {
    expect(apis.map((a) => a.folder).sort()).toEqual(Object.keys(CASES).sort());
    expect(rows.length).toBeGreaterThan(90);
  });

  it("the codec has kafkajs's newest version of every API (the one kafkajs picks from a Kafka 4 broker)", () => {
    const missing = apis
      .map(({ folder, versions }) => ({ folder, newest: Math.max(...versions) }))
      .filter(({ folder, newest }) => !codecHas(keyOf(folder, newest), newest));
    expect(missing).toEqual([]);
  });

  it.each(
    rows,
  )('$folder v$version: kafkajs frame decodes to the mapped fields and re-encodes byte-identically', async ({
    folder,
    version,
  }) => {
    const c = CASES[folder];
    const request = kafkajsRequest(folder, version)(c.args(version));
    expect(request.apiVersion).toBe(version);
    const frame = (await kafkajsRequestFrame({ correlationId: 0x01020304, clientId: 'sluice-test', request })).buffer;

    const api = apiByKey(request.apiKey);
    if (!api) throw new Error(`no API ${request.apiKey}`);
    expect(api.name).toBe(c.api);

    // Decode the whole frame here.
    const r = new Reader(frame);
    expect(r.int32()).toBe(frame.length - 4);
    const headerVersion = requestHeaderVersion(request.apiKey, version);
    const header = RequestHeaderCodec.decode(r, headerVersion);
    expect(header).toEqual({
      requestApiKey: request.apiKey,
      requestApiVersion: version,
      correlationId: 0x01020304,
      clientId: 'sluice-test',
    });
    const body = api.request.decode(r, version);
    expect(r.remaining).toBe(0);
    const expected = shape<Msg>(`${c.api}Request`, c.ours(version), version);
    expect(body).toEqual(expected);

    // Encode the expected fields here: the same bytes.
    const w = new Writer();
    writeRequestFrame(
      w,
      (w) => RequestHeaderCodec.encode(w, headerVersion, header),
      (w) => api.request.encode(w, version, resolveMatchers(expected, body)),
    );
    expect(w.finish().toString('hex')).toBe(frame.toString('hex'));
  });
});
