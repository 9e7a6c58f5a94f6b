// Standby replicas with exactly_once_v2: the standby applies only committed changelog records. An aborted
// transaction in the changelog (written here by a transactional producer, as a crashed active task's
// would be) must not reach the standby's store, so the instance that takes the task over never restores
// aborted state.
import { Admin, Producer, serde, topic } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KafkaStreams } from '../src/index.js';
import { createTopics, produce, type RunningBroker, readTopic, sluice, stateDir, unique, waitFor } from './helpers.js';
import { countTopology } from './topologies.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice();
});
afterAll(async () => {
  await broker?.stop();
});

it('exactly-once standby: an aborted changelog write never reaches the store that takes the task over', async () => {
  const brokers = [broker.bootstrap];
  const [input, output] = ['sbe-in', 'sbe-out'].map(unique);
  const applicationId = unique('standby-eos');
  await createTopics(brokers, [input, output], 1);
  const inputTopic = topic(input, { key: serde.string(), value: serde.string() });
  const config = (host: string) => ({
    brokers,
    applicationId,
    stateDir: stateDir(),
    applicationServer: host,
    processingGuarantee: 'exactly_once_v2' as const,
    numStandbyReplicas: 1,
    commitIntervalMs: 100,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 500,
  });
  const first = countTopology(input, output);
  const a = new KafkaStreams(first.topology, config('host-a:1'));
  const second = countTopology(input, output);
  const b = new KafkaStreams(second.topology, config('host-b:2'));
  const admin = new Admin({ brokers });
  const aborter = new Producer({ brokers }, { transactionalId: unique('aborter') });
  try {
    await a.start();
    await waitFor('a to run the task', async () => (await a.metrics()).length === 1, 30_000);
    await b.start();
    await waitFor('b to hold its standby', () => b.standbyTasks().length === 1, 30_000);
    await waitFor('a to run the task after the rebalance', async () => (await a.metrics()).length === 1, 30_000);

    await produce(brokers, inputTopic, [
      { key: 'k', value: '1' },
      { key: 'k', value: '2' },
      { key: 'k', value: '3' },
    ]);
    await waitFor('k counted 3 on a', () => a.query(first.counts).get('k') === 3, 30_000);
    await waitFor('the standby to apply the 3 committed updates', () => b.standbyTasks()[0].applied >= 3, 30_000);

    // An aborted transaction writes k = 999 to the changelog, after k's last committed update.
    const changelog = topic(`${applicationId}-counts-changelog`, { key: serde.string(), value: serde.json<number>() });
    await aborter.initTransactions();
    aborter.beginTransaction();
    await aborter.send(changelog, { key: 'k', value: 999, partition: 0 });
    await aborter.abortTransaction();
    // A committed update of another key after it: the standby reads past the aborted record.
    await produce(brokers, inputTopic, [{ key: 'j', value: '1' }]);
    const [end] = await admin.listOffsets([{ topic: changelog.name, partition: 0 }]);
    await waitFor(
      'the standby past the aborted record',
      () => (b.standbyTasks()[0]?.positions[changelog.name] ?? -1n) >= end.offset - 1n,
      30_000,
    );

    // a leaves: b takes the task over from its standby store.
    await a.close();
    await waitFor('b to run the task', async () => (await b.metrics()).length === 1, 40_000);
    await waitFor('j counted on b', () => b.query(second.counts).get('j') === 1, 30_000);
    expect(b.query(second.counts).get('k')).toBe(3);
    // The standby was past the last commit marker too: nothing left to restore.
    expect((await b.metrics())[0].restoreTotal).toBe(0);
    // And it counts on from the committed state.
    await produce(brokers, inputTopic, [{ key: 'k', value: '4' }]);
    await waitFor('k counted 4 on b', () => b.query(second.counts).get('k') === 4, 30_000);
    const out = await readTopic(brokers, topic(output, { key: serde.string(), value: serde.json<number>() }), 5, {
      readCommitted: true,
    });
    expect(out.map((r) => [r.key, r.value])).toEqual([
      ['k', 1],
      ['k', 2],
      ['k', 3],
      ['j', 1],
      ['k', 4],
    ]);
  } finally {
    await aborter.close();
    await b.close();
    await a.close();
    await admin.close();
  }
}, 180_000);
