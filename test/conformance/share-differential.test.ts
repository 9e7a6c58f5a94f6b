import { randomUUID } from 'node:crypto';
import {
  ApiVersionsApi,
  FindCoordinatorApi,
  ShareAcknowledgeApi,
  ShareFetchApi,
  ShareGroupDescribeApi,
  ShareGroupHeartbeatApi,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerUnderTest, startKafka, startSluice } from './brokers.js';
import { createTopic, type Side } from './scripts.js';
import { WireClient } from './wire-client.js';

// KIP-932's error paths, the same script against Sluice and Apache Kafka 4.4: what ApiVersions says of
// share.version and the share APIs, heartbeats with a missing or unknown member and a fenced epoch, share
// sessions that do not exist or have the wrong epoch, acknowledgements where none may be, describing an
// unknown share group. Error codes and epochs are compared. Run with
// `npx vitest run -c vitest.conformance.config.ts test/conformance/share-differential.test.ts`.

/** Codes a coordinator answers while it loads: retried, bounded. */
const TRANSIENT = new Set([14, 15, 16]);

async function retrying<T>(call: () => Promise<T>, codeOf: (r: T) => number): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const r = await call();
    if (!TRANSIENT.has(codeOf(r)) || attempt >= 100) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const SHARE_APIS = [76, 77, 78, 79, 90, 91, 92];

async function script(s: Side): Promise<Record<string, unknown>> {
  const c = s.client;
  await createTopic(s, 'shd');
  const out: Record<string, unknown> = {};
  const versions = await c.send(ApiVersionsApi, 3, {
    ...ApiVersionsApi.request.defaults(),
    clientSoftwareName: 'sluice-conformance',
    clientSoftwareVersion: '1',
  });
  out.shareApis = versions.apiKeys
    .filter((k) => SHARE_APIS.includes(k.apiKey))
    .map((k) => [k.apiKey, k.minVersion, k.maxVersion])
    .sort((a, b) => (a[0] as number) - (b[0] as number));
  out.supportedShareVersion = versions.supportedFeatures.find((f) => f.name === 'share.version');
  out.finalizedShareVersion = versions.finalizedFeatures.find((f) => f.name === 'share.version');
  await retrying(
    () =>
      c.send(FindCoordinatorApi, 4, {
        ...FindCoordinatorApi.request.defaults(),
        keyType: 0,
        coordinatorKeys: ['shd-g'],
      }),
    (r) => r.coordinators[0]?.errorCode ?? -2,
  );
  const hb = (memberId: string, memberEpoch: number, topics: string[] | null) =>
    retrying(
      () =>
        c.send(ShareGroupHeartbeatApi, 1, {
          groupId: 'shd-g',
          memberId,
          memberEpoch,
          rackId: null,
          subscribedTopicNames: topics,
        }),
      (r) => r.errorCode,
    );
  out.emptyMemberId = (await hb('', 0, ['shd'])).errorCode;
  out.noTopicsOnJoin = (await hb(randomUUID(), 0, null)).errorCode;
  out.unknownMember = (await hb(randomUUID(), 3, null)).errorCode;
  const member = randomUUID();
  const joined = await hb(member, 0, ['shd']);
  // Kafka 4.4 answers the first join with epoch 2 (a second bump it makes while it initializes the share state),
  // Sluice with 1: compared as "a positive epoch".
  out.join = { errorCode: joined.errorCode, memberEpoch: joined.memberEpoch > 0, memberId: joined.memberId === member };
  out.unknownMemberOfGroup = (await hb(randomUUID(), 3, null)).errorCode;
  out.fenced = (await hb(member, joined.memberEpoch + 5, null)).errorCode;
  const described = await c.send(ShareGroupDescribeApi, 1, {
    groupIds: ['shd-g', 'shd-none'],
    includeAuthorizedOperations: false,
  });
  out.describe = described.groups.map((g) => ({
    errorCode: g.errorCode,
    groupState: g.errorCode === 0 ? g.groupState : '',
    assignorName: g.assignorName,
    members: g.members.length,
  }));
  const fetch = (epoch: number, acks: boolean) =>
    c.send(ShareFetchApi, 1, {
      ...ShareFetchApi.request.defaults(),
      groupId: 'shd-g',
      memberId: member,
      shareSessionEpoch: epoch,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      maxRecords: 10,
      batchSize: 10,
      topics: acks
        ? [
            {
              topicId: '00000000-0000-0000-0000-000000000001',
              partitions: [
                {
                  partitionIndex: 0,
                  partitionMaxBytes: 0,
                  acknowledgementBatches: [{ firstOffset: 0n, lastOffset: 0n, acknowledgeTypes: [1] }],
                },
              ],
            },
          ]
        : [],
      forgottenTopicsData: [],
    });
  out.fetchNoSession = (await fetch(3, false)).errorCode;
  out.fetchInitialWithAcks = (await fetch(0, true)).errorCode;
  const opened = await fetch(0, false);
  out.fetchOpen = opened.errorCode;
  out.fetchWrongEpoch = (await fetch(5, false)).errorCode;
  const ack = (epoch: number) =>
    c.send(ShareAcknowledgeApi, 1, {
      ...ShareAcknowledgeApi.request.defaults(),
      groupId: 'shd-g',
      memberId: member,
      shareSessionEpoch: epoch,
      topics: [],
    });
  out.ackInitialEpoch = (await ack(0)).errorCode;
  out.ackNoSessionEpoch = (await ack(7)).errorCode;
  out.fetchClose = (await fetch(-1, false)).errorCode;
  out.ackAfterClose = (await ack(2)).errorCode;
  const left = await hb(member, -1, null);
  out.leave = { errorCode: left.errorCode, memberEpoch: left.memberEpoch };
  return out;
}

let sluice: BrokerUnderTest;
let kafka: BrokerUnderTest;
const sides: Side[] = [];

beforeAll(async () => {
  [sluice, kafka] = await Promise.all([startSluice(), startKafka()]);
  for (const b of [sluice, kafka]) {
    const client = await WireClient.connect(b.port, b.kind);
    sides.push({ broker: b, client, connect: (id) => WireClient.connect(b.port, b.kind, id) });
  }
}, 240_000);

afterAll(async () => {
  for (const s of sides) s.client.close();
  await Promise.all([sluice?.stop(), kafka?.stop()]);
});

describe('share-group APIs, differential', () => {
  it('answer as Kafka 4.4 does on the error paths', async () => {
    const [fromSluice, fromKafka] = await Promise.all(sides.map((s) => script(s)));
    expect(fromSluice).toEqual(fromKafka);
  }, 180_000);
});
