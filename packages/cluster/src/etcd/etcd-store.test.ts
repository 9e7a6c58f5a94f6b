import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { initialPartitionRecords } from '../controller/partition-change.js';
import { MetadataConflictError, MetadataUnavailableError } from '../errors.js';
import type { MetadataChange } from '../image.js';
import type { BrokerRegistration } from '../model.js';
import type { WriteFence } from '../store.js';
import { TcpProxy } from '../testing/tcp-proxy.js';
import { EtcdMetadataStore, type EtcdStoreOptions } from './etcd-store.js';
import { LocalEtcd } from './local-etcd.js';

// These tests need a real etcd: LocalEtcd.start() fails (it does not skip) when the binary is missing.
const TTL_S = 2;

const open: EtcdMetadataStore[] = [];
async function store(
  etcd: LocalEtcd,
  clusterId: string,
  extra: Partial<EtcdStoreOptions> = {},
): Promise<EtcdMetadataStore> {
  const s = await EtcdMetadataStore.open({
    endpoints: etcd.endpoints,
    clusterId,
    leaseTtlSeconds: TTL_S,
    requestTimeoutMs: 1500,
    ...extra,
  });
  open.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function register(s: EtcdMetadataStore, nodeId: number, rack: string | null = null): Promise<BrokerRegistration> {
  return s.registerBroker({
    nodeId,
    incarnationId: randomUUID(),
    listeners: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 9000 + nodeId, securityProtocol: 'PLAINTEXT' }],
    rack,
  });
}

/** Polls `check` until it holds; fails after `ms`. */
async function eventually(check: () => boolean, ms: number, what: string): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

async function asController(
  s: EtcdMetadataStore,
  nodeId: number,
): Promise<Extract<WriteFence, { kind: 'controller' }>> {
  const c = await s.campaign(nodeId);
  return { kind: 'controller', nodeId, controllerEpoch: c.controllerEpoch };
}

async function createTopic(
  s: EtcdMetadataStore,
  fence: WriteFence,
  name: string,
  partitions: number,
  replicas: number[] = [1],
) {
  const topicId = randomUUID();
  const records = initialPartitionRecords(
    topicId,
    0,
    Array.from({ length: partitions }, () => replicas),
    () => true,
  );
  await s.createTopic({ name, topicId, configs: {}, partitionCount: partitions }, records, fence);
  return topicId;
}

describe('EtcdMetadataStore on one etcd member', () => {
  let etcd: LocalEtcd;
  beforeAll(async () => {
    etcd = await LocalEtcd.start();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('registers brokers with a lease: a dead broker lapses, a fenced one is told and registers again with a new epoch', async () => {
    const cluster = `reg-${Date.now()}`;
    const a = await store(etcd, cluster);
    const b = await store(etcd, cluster);
    const regA = await register(a, 1, 'r1');
    const regB = await register(b, 2);
    await eventually(() => b.image.brokers.has(1), 10_000, 'b sees broker 1');
    expect(b.image.brokers.get(1)).toMatchObject({
      nodeId: 1,
      rack: 'r1',
      brokerEpoch: regA.brokerEpoch,
      listeners: [{ port: 9001 }],
    });

    // A second process with the same node id is refused while the first one lives.
    const c = await store(etcd, cluster, { leaseTtlSeconds: 1 });
    const t0 = Date.now();
    await expect(register(c, 1)).rejects.toMatchObject({ errorName: 'DUPLICATE_BROKER_REGISTRATION' });
    expect(Date.now() - t0).toBeLessThan(6000);

    // The lease is revoked behind the broker's back: it hears it is fenced, then comes back.
    const fenced: BrokerRegistration[] = [];
    a.onFenced((r) => fenced.push(r));
    const raw = new Etcd3({ hosts: etcd.endpoints });
    try {
      const kv = (await raw.namespace(`/sluice/${cluster}/`).get('brokers/1').exec()).kvs[0];
      await raw.leaseClient.leaseRevoke({ ID: kv.lease });
    } finally {
      raw.close();
    }
    await eventually(() => fenced.length === 1, TTL_S * 1000 + 3000, 'a is told it was fenced');
    expect(fenced[0].brokerEpoch).toBe(regA.brokerEpoch);
    await eventually(() => (a.localRegistration?.brokerEpoch ?? 0) > regA.brokerEpoch, 5000, 'a registers again');
    await eventually(
      () => (b.image.brokers.get(1)?.brokerEpoch ?? 0) > regA.brokerEpoch,
      10_000,
      'b sees the new epoch',
    );
    // The old epoch no longer fences anything.
    await expect(b.allocateProducerIds(1, regA.brokerEpoch)).rejects.toMatchObject({ errorName: 'STALE_BROKER_EPOCH' });

    // A broker that dies (no deregistration) disappears once its lease runs out.
    await a.close();
    const lapse = await eventually(() => !b.image.brokers.has(1), TTL_S * 1000 + 3000, 'broker 1 lapses');
    expect(lapse).toBeGreaterThan(500);
    expect(b.image.brokers.has(2)).toBe(true);
    // A clean deregistration is immediate.
    await b.unregisterBroker(2, regB.brokerEpoch);
    expect(b.image.brokers.has(2)).toBe(false);
  });

  it('elects one controller; another takes over within seconds of the holder dying, and the old one is fenced', async () => {
    const cluster = `ctl-${Date.now()}`;
    const a = await store(etcd, cluster);
    const b = await store(etcd, cluster);
    await register(a, 1);
    await register(b, 2);
    const fenceA = await asController(a, 1);
    let bWon = false;
    const bCampaign = b.campaign(2).then((c) => {
      bWon = true;
      return c;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(bWon).toBe(false);
    expect(b.image.controller).toMatchObject({ nodeId: 1 });

    const topicId = await createTopic(a, fenceA, 'orders', 3);
    // A resigns (as on controlled shutdown); B takes over at once.
    await a.resign();
    const cb = await bCampaign;
    expect(cb.controllerEpoch).toBeGreaterThan(fenceA.kind === 'controller' ? fenceA.controllerEpoch : 0);
    await eventually(() => a.image.controller?.nodeId === 2, 10_000, 'a sees controller 2');

    // The old controller's writes are refused and change nothing.
    const p0 = a.image.partition(topicId, 0)!;
    const stale = { expectedPartitionEpoch: 0, next: { ...p0, leaderEpoch: 9, partitionEpoch: 1 } };
    await expect(a.alterPartitions([stale], fenceA)).rejects.toMatchObject({ errorName: 'NOT_CONTROLLER' });
    await expect(a.deleteTopic('orders', topicId, fenceA)).rejects.toMatchObject({ errorName: 'NOT_CONTROLLER' });
    expect(b.image.partition(topicId, 0)).toEqual(p0);

    // The holder dies without resigning: A takes over after the lease runs out.
    const aCampaign = a.campaign(1);
    await b.close();
    const t0 = Date.now();
    const ca = await aCampaign;
    const takeoverMs = Date.now() - t0;
    expect(ca.controllerEpoch).toBeGreaterThan(cb.controllerEpoch);
    expect(takeoverMs).toBeLessThan(TTL_S * 1000 + 3000);
  });

  it('compares every write: stale partition epochs, existing topics and fenced brokers are refused', async () => {
    const cluster = `cas-${Date.now()}`;
    const a = await store(etcd, cluster);
    const reg = await register(a, 1);
    const fence = await asController(a, 1);
    const topicId = await createTopic(a, fence, 't', 2);
    await expect(createTopic(a, fence, 't', 1)).rejects.toMatchObject({ errorName: 'TOPIC_ALREADY_EXISTS' });

    const p = a.image.partition(topicId, 1)!;
    await a.alterPartitions(
      [{ expectedPartitionEpoch: 0, next: { ...p, isr: [1], leaderEpoch: 1, partitionEpoch: 1 } }],
      fence,
    );
    expect(a.image.partition(topicId, 1)).toMatchObject({ leaderEpoch: 1, partitionEpoch: 1 });
    // A writer that read epoch 0 is too late.
    await expect(
      a.alterPartitions([{ expectedPartitionEpoch: 0, next: { ...p, leaderEpoch: 5, partitionEpoch: 1 } }], fence),
    ).rejects.toMatchObject({
      errorName: 'INVALID_UPDATE_VERSION',
    });
    // A leader writes its ISR change fenced by its broker epoch (AlterPartition); a stale epoch cannot.
    const p1 = a.image.partition(topicId, 1)!;
    const next = { ...p1, partitionEpoch: 2 };
    await expect(
      a.alterPartitions([{ expectedPartitionEpoch: 1, next }], {
        kind: 'broker',
        nodeId: 1,
        brokerEpoch: reg.brokerEpoch - 1,
      }),
    ).rejects.toMatchObject({
      errorName: 'STALE_BROKER_EPOCH',
    });
    await a.alterPartitions([{ expectedPartitionEpoch: 1, next }], {
      kind: 'broker',
      nodeId: 1,
      brokerEpoch: reg.brokerEpoch,
    });
    expect(a.image.partition(topicId, 1)?.partitionEpoch).toBe(2);

    // Topic writes also take a live broker's fence (an admin request served by any broker).
    const brokerFence = { kind: 'broker', nodeId: 1, brokerEpoch: reg.brokerEpoch } as const;
    await expect(
      a.setTopicConfigs('t', topicId, { 'retention.ms': '4' }, { ...brokerFence, brokerEpoch: reg.brokerEpoch + 1 }),
    ).rejects.toMatchObject({
      errorName: 'STALE_BROKER_EPOCH',
    });
    await a.setTopicConfigs('t', topicId, { 'retention.ms': '4' }, brokerFence);
    expect(a.image.topics.get('t')?.configs).toEqual({ 'retention.ms': '4' });
    await a.setTopicConfigs('t', topicId, { 'retention.ms': '5' }, fence);
    await a.addPartitions(
      't',
      topicId,
      initialPartitionRecords(topicId, 2, [[1]], () => true),
      fence,
    );
    expect(a.image.topics.get('t')).toMatchObject({ partitionCount: 3, configs: { 'retention.ms': '5' } });
    await a.deleteTopic('t', topicId, fence);
    expect(a.image.topics.has('t')).toBe(false);
    expect(a.image.partition(topicId, 0)).toBeUndefined();
  });

  it("writes a topic of 300 partitions in transactions within etcd's 128-operation limit, topic record last", async () => {
    const cluster = `big-${Date.now()}`;
    const a = await store(etcd, cluster);
    const b = await store(etcd, cluster);
    await register(a, 1);
    const fence = await asController(a, 1);
    const seen: MetadataChange[] = [];
    b.onChange((changes) => seen.push(...changes));
    const topicId = await createTopic(a, fence, 'wide', 300);
    await eventually(() => b.image.partitionsOf(topicId).length === 300, 10_000, 'b sees 300 partitions');
    const topicEvent = seen.findIndex((c) => c.type === 'topic');
    expect(seen.filter((c) => c.type === 'partition')).toHaveLength(300);
    expect(topicEvent).toBe(seen.length - 1);

    // One transaction for all of them is what etcd refuses.
    const unchunked = await store(etcd, cluster, { maxTxnOps: 1000 });
    await register(unchunked, 2);
    await a.resign();
    const fence2 = await asController(unchunked, 2);
    await expect(createTopic(unchunked, fence2, 'too-wide', 300)).rejects.toThrow(/too many operations/);
    expect(unchunked.image.topics.has('too-wide')).toBe(false);
  });

  it('keeps two caches in step through watches, and hands out producer-id blocks that never overlap', async () => {
    const cluster = `watch-${Date.now()}`;
    const a = await store(etcd, cluster);
    const b = await store(etcd, cluster);
    const ra = await register(a, 1);
    const rb = await register(b, 2);
    const fence = await asController(a, 1);
    const topicId = await createTopic(a, fence, 'shared', 4, [1, 2]);
    await a.setBrokerConfigs('default', { 'log.retention.ms': '100' });
    await eventually(
      () =>
        b.image.brokerConfigs('default')['log.retention.ms'] === '100' && b.image.partitionsOf(topicId).length === 4,
      2000,
      'b catches up',
    );
    expect(b.image.topics.get('shared')).toEqual(a.image.topics.get('shared'));
    expect(b.image.partitionsOf(topicId)).toEqual(a.image.partitionsOf(topicId));

    const blocks = await Promise.all([
      ...Array.from({ length: 5 }, () => a.allocateProducerIds(1, ra.brokerEpoch)),
      ...Array.from({ length: 5 }, () => b.allocateProducerIds(2, rb.brokerEpoch)),
    ]);
    const starts = blocks.map((x) => x.firstProducerId).sort((x, y) => (x < y ? -1 : 1));
    for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(1000n);
    expect(new Set(starts).size).toBe(10);
  });

  it('writes security records (keys with slashes) and another cache sees them, deletions too', async () => {
    const cluster = `security-${Date.now()}`;
    const a = await store(etcd, cluster);
    const b = await store(etcd, cluster);
    await a.setSecurityRecords([
      { kind: 'acls', key: 'TOPIC/LITERAL/a,b/User:x', value: '{"v":1}' },
      { kind: 'scram', key: 'alice/SCRAM-SHA-512', value: '{"i":4096}' },
    ]);
    await eventually(() => b.image.securityRecords('scram').size === 1, 10_000, 'b sees the credential');
    expect([...b.image.securityRecords('acls')]).toEqual([['TOPIC/LITERAL/a,b/User:x', '{"v":1}']]);
    await a.setSecurityRecords([{ kind: 'acls', key: 'TOPIC/LITERAL/a,b/User:x', value: null }]);
    await eventually(() => b.image.securityRecords('acls').size === 0, 10_000, 'b sees the deletion');
  });

  it('compares security records before writing them (delegation tokens)', async () => {
    const a = await store(etcd, `security-cas-${Date.now()}`);
    await a.setSecurityRecords([{ kind: 'tokens', key: 't1', value: 'v1', expected: null }]);
    await expect(a.setSecurityRecords([{ kind: 'tokens', key: 't1', value: 'v2', expected: null }])).rejects.toThrow(
      MetadataConflictError,
    );
    await expect(a.setSecurityRecords([{ kind: 'tokens', key: 't1', value: 'v2', expected: 'v0' }])).rejects.toThrow(
      MetadataConflictError,
    );
    expect(a.image.securityRecords('tokens').get('t1')).toBe('v1');
    await a.setSecurityRecords([{ kind: 'tokens', key: 't1', value: null, expected: 'v1' }]);
    expect(a.image.securityRecords('tokens').size).toBe(0);
    // A renewal based on the deleted record does not bring it back.
    await expect(a.setSecurityRecords([{ kind: 'tokens', key: 't1', value: 'v3', expected: 'v1' }])).rejects.toThrow(
      MetadataConflictError,
    );
    expect(a.image.securityRecords('tokens').size).toBe(0);
  });

  it('re-reads the key space when its watch was compacted away', async () => {
    const cluster = `compact-${Date.now()}`;
    // B reaches etcd through a proxy; while it is cut off, A writes and etcd compacts the history.
    const proxy = await TcpProxy.start(Number(new URL(etcd.endpoints[0]).port));
    try {
      const problems: string[] = [];
      const b = await store(etcd, cluster, { endpoints: [proxy.url], onProblem: (e) => problems.push(e.message) });
      const a = await store(etcd, cluster);
      await register(a, 1);
      const fence = await asController(a, 1);
      await eventually(() => b.image.controller?.nodeId === 1, 10_000, 'b sees the controller');
      proxy.partition();
      const topicId = await createTopic(a, fence, 'while-away', 2);
      await a.setBrokerConfigs('default', { y: '2' });
      const raw = new Etcd3({ hosts: etcd.endpoints });
      try {
        const rev = (await raw.get('anything').exec()).header.revision;
        await raw.kv.compact({ revision: rev, physical: true });
      } finally {
        raw.close();
      }
      proxy.restore();
      await eventually(
        () => b.image.topics.get('while-away')?.topicId === topicId && b.image.brokerConfigs('default').y === '2',
        15_000,
        'b re-read',
      );
      // The watch could not resume from its revision (compacted): the store re-read instead.
      await eventually(
        () => problems.some((m) => /metadata watch cancelled by etcd/.test(m)),
        5000,
        'the watch was cancelled',
      );
      // And B watches again: a later change reaches it without another re-read.
      await a.setBrokerConfigs('default', { y: '3' });
      await eventually(() => b.image.brokerConfigs('default').y === '3', 10_000, 'b watches again');
    } finally {
      await proxy.stop();
    }
  });

  it('serves reads from the cache while etcd is down, fails writes with a retriable error, and recovers', async () => {
    const cluster = `down-${Date.now()}`;
    // An outage shorter than the lease: the registration survives it.
    const a = await store(etcd, cluster, { leaseTtlSeconds: 6 });
    const b = await store(etcd, cluster, { leaseTtlSeconds: 6 });
    const reg = await register(a, 1);
    const fence = await asController(a, 1);
    const topicId = await createTopic(a, fence, 'kept', 2);
    await eventually(() => b.image.topics.has('kept'), 10_000, 'b sees the topic');

    await etcd.stopAll('SIGKILL');
    try {
      expect(b.image.topics.get('kept')?.topicId).toBe(topicId);
      expect(a.image.partitionsOf(topicId)).toHaveLength(2);
      const t0 = Date.now();
      const err = await a.setBrokerConfigs('default', { x: '1' }).catch((e) => e);
      expect(err).toBeInstanceOf(MetadataUnavailableError);
      expect(err).toMatchObject({ retriable: true, errorName: 'REQUEST_TIMED_OUT' });
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await etcd.startAll();
    }
    // Writes work again (the client reconnects), and the other cache sees them.
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await a.setTopicConfigs('kept', topicId, { 'retention.ms': '7' }, fence);
        break;
      } catch (e) {
        if (!(e instanceof MetadataUnavailableError) || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await eventually(
      () => b.image.topics.get('kept')?.configs['retention.ms'] === '7',
      5000,
      'b sees the write after recovery',
    );
    // The lease outlived the short outage: still the same broker epoch.
    expect(a.localRegistration?.brokerEpoch).toBe(reg.brokerEpoch);
  });

  it('after an etcd outage longer than twice its lease, a broker keeps its registration, epoch and controller role: etcd kept the lease over its restart', async () => {
    const cluster = `long-down-${Date.now()}`;
    const a = await store(etcd, cluster, { leaseTtlSeconds: 1 });
    const b = await store(etcd, cluster, { leaseTtlSeconds: 1 });
    const reg = await register(a, 1);
    const fence = await asController(a, 1);
    const fenced: BrokerRegistration[] = [];
    a.onFenced((r) => fenced.push(r));
    // What another broker's cache sees of node 1 meanwhile: a deletion would move its leaderships.
    const gone: MetadataChange[] = [];
    b.onChange((changes) => {
      for (const c of changes) if (c.type === 'broker' && c.nodeId === 1 && !c.after) gone.push(c);
    });
    await etcd.stopAll('SIGKILL');
    try {
      // Three TTLs without an answer: etcd's own client would give the lease up here.
      await new Promise((r) => setTimeout(r, 3000));
      expect(fenced).toEqual([]);
      expect(a.localRegistration?.brokerEpoch).toBe(reg.brokerEpoch);
      // Nobody can say the registration is alive meanwhile.
      expect(a.registrationAliveUntil).toBeLessThan(Date.now());
    } finally {
      await etcd.startAll();
    }
    // The heartbeats reach etcd again before the lease (extended by etcd's new leader) runs out.
    await eventually(() => a.registrationAliveUntil > Date.now(), 5000, "a's lease is heard again");
    // Several TTLs later nothing lapsed: no deletion seen, same epoch, same controller.
    await new Promise((r) => setTimeout(r, 2500));
    expect(gone).toEqual([]);
    expect(fenced).toEqual([]);
    expect(b.image.brokers.get(1)?.brokerEpoch).toBe(reg.brokerEpoch);
    expect(a.localRegistration?.brokerEpoch).toBe(reg.brokerEpoch);
    expect(b.image.controller).toMatchObject({ nodeId: 1, controllerEpoch: fence.controllerEpoch });
    // The controller's writes still land under its old epoch.
    await createTopic(a, fence, 'after-the-outage', 1);
    await eventually(() => b.image.topics.has('after-the-outage'), 10_000, 'b sees the new topic');
  });
});

describe('EtcdMetadataStore on three etcd members', () => {
  let etcd: LocalEtcd;
  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 3 });
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('notices nothing when one member of three restarts', async () => {
    const cluster = `m3-${Date.now()}`;
    const a = await store(etcd, cluster);
    const b = await store(etcd, cluster);
    const reg = await register(a, 1);
    const fenced: unknown[] = [];
    a.onFenced((r) => fenced.push(r));
    const errors: unknown[] = [];
    let writes = 0;
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        try {
          await a.setBrokerConfigs(1, { n: String(++writes) });
        } catch (e) {
          errors.push(e);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    for (const member of [0, 1]) {
      await etcd.stopMember(member, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 700));
      await etcd.startMember(member);
      await new Promise((r) => setTimeout(r, 300));
    }
    // A few more writes after the restarts, then stop.
    const target = writes + 5;
    await eventually(() => writes >= target || errors.length > 0, 10_000, 'writes go on');
    stop = true;
    await writer;
    expect(errors).toEqual([]);
    expect(fenced).toEqual([]);
    await eventually(() => b.image.brokerConfigs(1).n === String(writes), 10_000, 'b sees the last write');
    expect(a.localRegistration?.brokerEpoch).toBe(reg.brokerEpoch);
  });
});
