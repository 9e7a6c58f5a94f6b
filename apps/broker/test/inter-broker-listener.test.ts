// inter.broker.listener.name in a 3-broker cluster: followers fetch from leaders over the named
// listener with its security (SASL_PLAINTEXT, PLAIN as the super user of
// sasl.mechanism.inter.broker.protocol), while the first listener only knows an ordinary user. With
// ACLs closed, replication (acks=all with min.insync.replicas=3) works only if the fetchers log in
// on the inter-broker listener as the broker's own principal. The same holds for the transaction
// requests between brokers (WriteTxnMarkers to other leaders, KIP-890 verification with the
// coordinator's broker): an ordinary user's transaction over three leaders commits only if they go
// over the inter-broker listener too.

import { Kafka, serde, topic } from '@sluice/client';
import type { LocalEtcd } from '@sluice/cluster';
import { AclOperation, AclPermissionType, PatternType, ResourceType } from '@sluice/security';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBrokerConfig } from '../src/config/index.js';
import type { RunningBroker } from '../src/index.js';
import { interBrokerSettings } from '../src/server/inter-broker.js';
import { type RawClient, startEtcdCluster, until } from './helpers.js';

const PLAIN = 'org.apache.kafka.common.security.plain.PlainLoginModule required';

let etcd: LocalEtcd;
let brokers: RunningBroker[];
let clients: RawClient[];

beforeAll(async () => {
  ({ etcd, brokers, clients } = await startEtcdCluster('sluice-inter-broker', {
    listeners: 'CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0',
    'listener.security.protocol.map': 'CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT',
    'inter.broker.listener.name': 'INTERNAL',
    'sasl.mechanism.inter.broker.protocol': 'PLAIN',
    'sasl.enabled.mechanisms': 'PLAIN',
    'listener.name.client.plain.sasl.jaas.config': `${PLAIN} user_alice="alice-pw";`,
    'listener.name.internal.plain.sasl.jaas.config': `${PLAIN} username="broker" password="broker-pw" user_broker="broker-pw";`,
    'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    'super.users': 'User:broker',
    'allow.everyone.if.no.acl.found': 'false',
    'offsets.topic.num.partitions': '1',
  }));
}, 90_000);
afterAll(async () => {
  for (const c of clients ?? []) c.close();
  for (const b of brokers ?? []) await b.stop();
  await etcd?.stop();
});

describe('inter.broker.listener.name', () => {
  it('followers replicate over the inter-broker listener with its SASL login (acks=all, min.insync.replicas=3)', async () => {
    const kafka = new Kafka({
      brokers: brokers.map((b) => `127.0.0.1:${b.listeners.INTERNAL!.port}`),
      sasl: { mechanism: 'PLAIN', username: 'broker', password: 'broker-pw' },
      requestTimeoutMs: 10_000,
    });
    const admin = kafka.admin();
    await admin.createTopics([
      { name: 'replicated', numPartitions: 1, replicationFactor: 3, configs: { 'min.insync.replicas': '3' } },
    ]);
    const t = topic('replicated', { key: serde.string(), value: serde.string() });
    const producer = kafka.producer({ acks: 'all' });
    try {
      await producer.send(t, { key: 'k', value: 'over INTERNAL' });
    } finally {
      await producer.close();
      await admin.close();
    }
    // Every replica holds the record.
    await until('every replica has the record', () =>
      brokers.every((b) => (b.context.topics.get('replicated')?.partitions[0]?.log.logEndOffset ?? 0n) >= 1n),
    );
  }, 60_000);

  it("a user's transaction over partitions led by all three brokers commits: markers and verifications go over the inter-broker listener", async () => {
    const internal = brokers.map((b) => `127.0.0.1:${b.listeners.INTERNAL!.port}`);
    const superUser = new Kafka({
      brokers: internal,
      sasl: { mechanism: 'PLAIN', username: 'broker', password: 'broker-pw' },
      requestTimeoutMs: 10_000,
    });
    const admin = superUser.admin();
    const TXN_TOPIC = 'txn-over-internal';
    // alice may write the topic and use her transactional id, nothing on the cluster.
    const allow = (resourceType: number, resourceName: string) => ({
      resourceType,
      resourceName,
      patternType: PatternType.LITERAL,
      principal: 'User:alice',
      host: '*',
      operation: AclOperation.ALL,
      permissionType: AclPermissionType.ALLOW,
    });
    await admin.createAcls([allow(ResourceType.TOPIC, TXN_TOPIC), allow(ResourceType.TRANSACTIONAL_ID, 'alice-txn')]);
    await admin.createTopics([{ name: TXN_TOPIC, numPartitions: 3, replicationFactor: 3 }]);
    // Each partition led by a different broker, so the coordinator has markers to send to two others.
    await until('three partitions led by three brokers', () => {
      const image = brokers[0].context.store.image;
      const id = image.topics.get(TXN_TOPIC)?.topicId;
      const ls = [0, 1, 2].map((p) => (id ? image.partition(id, p)?.leader : undefined));
      return new Set(ls).size === 3 && ls.every((l) => l !== undefined && l >= 0);
    });
    await until('the topic and both ACLs on every broker', () =>
      brokers.every(
        (b) => b.context.store.image.topics.has(TXN_TOPIC) && b.context.store.image.securityRecords('acls').size >= 2,
      ),
    );

    const alice = new Kafka({
      brokers: brokers.map((b) => `127.0.0.1:${b.listeners.CLIENT!.port}`),
      sasl: { mechanism: 'PLAIN', username: 'alice', password: 'alice-pw' },
      requestTimeoutMs: 10_000,
    });
    const t = topic(TXN_TOPIC, { key: serde.string(), value: serde.string() });
    // Bounded: without the broker-to-broker requests a send or commit would wait out these.
    const producer = alice.producer({ transactionalId: 'alice-txn', deliveryTimeoutMs: 20_000 });
    const consumer = superUser.consumer({ isolationLevel: 'read_committed' });
    try {
      const each = (tx: typeof producer, tag: string) =>
        Promise.all([0, 1, 2].map((partition) => tx.send(t, { partition, key: tag, value: `${tag}-${partition}` })));
      await producer.transaction((tx) => each(tx, 'first'));
      await expect(
        producer.transaction(async (tx) => {
          await each(tx, 'aborted');
          throw new Error('abort on purpose');
        }),
      ).rejects.toThrow('abort on purpose');
      await producer.transaction((tx) => each(tx, 'second'));

      // A read_committed reader gets both committed transactions, in order on each partition, and
      // nothing of the aborted one (which lies between them): every leader got its markers.
      await consumer.assign([0, 1, 2].map((partition) => ({ topic: t, partition, offset: 'earliest' as const })));
      const seen: string[] = [];
      const read = (async () => {
        for await (const r of consumer.records(t)) {
          seen.push(r.value ?? '');
          if (seen.length >= 6) return;
        }
      })();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        read,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`read_committed saw only ${seen.join(',')}`)), 30_000);
        }),
      ]).finally(() => clearTimeout(timer));
      for (const partition of [0, 1, 2])
        expect(seen.filter((v) => v.endsWith(`-${partition}`))).toEqual([`first-${partition}`, `second-${partition}`]);
    } finally {
      await consumer.close();
      await producer.close();
      await admin.close();
    }
  }, 90_000);

  it("refuses a setup Kafka refuses, with Kafka's messages", () => {
    const base = {
      listeners: 'CLIENT://127.0.0.1:0,INTERNAL://127.0.0.1:0',
      'listener.security.protocol.map': 'CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT',
      'listener.name.internal.plain.sasl.jaas.config': `${PLAIN} username="broker" password="broker-pw";`,
    };
    const settings = (extra: Record<string, string>) => () =>
      interBrokerSettings(createBrokerConfig({ ...base, ...extra }));
    expect(settings({ 'inter.broker.listener.name': 'NOPE' })).toThrow(
      'inter.broker.listener.name must be a listener name defined in advertised.listeners',
    );
    expect(
      settings({ 'inter.broker.listener.name': 'INTERNAL', 'security.inter.broker.protocol': 'SASL_PLAINTEXT' }),
    ).toThrow('Only one of inter.broker.listener.name and security.inter.broker.protocol should be set.');
    // GSSAPI is Kafka's default inter-broker mechanism; Sluice has no Kerberos.
    expect(settings({ 'inter.broker.listener.name': 'INTERNAL' })).toThrow('GSSAPI is not supported');
    expect(
      settings({ 'inter.broker.listener.name': 'INTERNAL', 'sasl.mechanism.inter.broker.protocol': 'PLAIN' })(),
    ).toMatchObject({
      listener: 'INTERNAL',
      sasl: { mechanism: 'PLAIN', username: 'broker', password: 'broker-pw' },
    });
  });
});
