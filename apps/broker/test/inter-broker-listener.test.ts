// inter.broker.listener.name in a 3-broker cluster: followers fetch from leaders over the named
// listener with its security (SASL_PLAINTEXT, PLAIN as the super user of
// sasl.mechanism.inter.broker.protocol), while the first listener only knows an ordinary user. With
// ACLs closed, replication (acks=all with min.insync.replicas=3) works only if the fetchers log in
// on the inter-broker listener as the broker's own principal.

import { Kafka, serde, topic } from '@sluice/client';
import type { LocalEtcd } from '@sluice/cluster';
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
