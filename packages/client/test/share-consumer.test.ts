import type { RunningBroker } from '@sluice/broker';
import { ERROR_CODES } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka } from '../src/kafka.js';
import { topic } from '../src/serde.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(1);
});
afterAll(async () => {
  await broker.stop();
});

describe('ShareConsumer', () => {
  it('keeps asking while the group coordinator is moving or loading, then joins and consumes', async () => {
    const name = uniqueTopic('share-retry');
    const group = `${name}-g`;
    const kafka = new Kafka({ brokers: [broker.bootstrap], retries: 5 });
    const admin = kafka.admin();
    await admin.createTopics([{ name, numPartitions: 1 }]);
    // share.auto.offset.reset=earliest on the group (GROUP resource, type 32): the record sent first is read.
    await admin.incrementalAlterConfigs(32, group, [{ name: 'share.auto.offset.reset', value: 'earliest' }]);
    await admin.close();
    const producer = kafka.producer();
    await producer.send(topic(name), { key: null, value: Buffer.from('hello') });
    await producer.close();

    // The coordinator answers its first 8 heartbeats with the errors of a coordinator on the move: more
    // than `retries` (5) quick retries would survive.
    const coordinator = broker.context.groups.shareGroups?.coordinator;
    if (coordinator === undefined) throw new Error('share groups are off');
    const real = coordinator.heartbeat.bind(coordinator);
    const codes = [
      ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS,
      ERROR_CODES.NOT_COORDINATOR,
      ERROR_CODES.COORDINATOR_NOT_AVAILABLE,
    ];
    let calls = 0;
    coordinator.heartbeat = (req) => {
      calls++;
      if (calls > 8) return real(req);
      return { ...real({ ...req, groupId: '' }), errorCode: codes[calls % 3] as number, errorMessage: null };
    };
    try {
      const share = kafka.shareConsumer({ groupId: group, maxWaitMs: 100, coordinatorTimeoutMs: 60_000 });
      let value = '';
      for await (const r of share.records(topic(name))) {
        value = (r.value as Buffer).toString();
        r.ack();
        break;
      }
      await share.close();
      expect(value).toBe('hello');
      expect(calls).toBeGreaterThan(8);
    } finally {
      coordinator.heartbeat = real;
    }
  }, 60_000);

  it('gives up on a coordinator that stays away once coordinatorTimeoutMs has passed', async () => {
    const coordinator = broker.context.groups.shareGroups?.coordinator;
    if (coordinator === undefined) throw new Error('share groups are off');
    const real = coordinator.heartbeat.bind(coordinator);
    coordinator.heartbeat = (req) => ({
      ...real({ ...req, groupId: '' }),
      errorCode: ERROR_CODES.COORDINATOR_NOT_AVAILABLE,
      errorMessage: null,
    });
    try {
      const kafka = new Kafka({ brokers: [broker.bootstrap] });
      const share = kafka.shareConsumer({ groupId: 'never', coordinatorTimeoutMs: 1_500 });
      const started = Date.now();
      const err = await share
        .records(topic('never-topic'))
        .next()
        .catch((e) => e);
      expect(err).toMatchObject({ code: ERROR_CODES.COORDINATOR_NOT_AVAILABLE });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
      await share.close();
    } finally {
      coordinator.heartbeat = real;
    }
  }, 30_000);
});
