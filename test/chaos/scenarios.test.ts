// Kafka's replication system-test scenarios (tests/kafkatest/tests/core/replication_test.py): clean
// shutdown, hard shutdown (SIGKILL), clean bounce and hard bounce of a partition leader and of the
// controller (the broker holding the etcd controller lease), while idempotent acks=all producers
// write uncompressed, lz4 and zstd batches side by side and a consumer group consumes along. Each
// case has its own topic (RF=3, min.insync.replicas=2) on one 3-broker cluster and is checked as the
// chaos run is: every acknowledged record exactly once at its acknowledged offset, replicas
// byte-identical up to the high watermark, group offsets never backwards, everything consumed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../apps/broker/test/helpers.js';
import { ChaosCluster } from './cluster.js';
import { checkAcks, checkReplicas, phantomReads, readTopic, settle } from './verify.js';
import { AckLog, groupConsumer, type RunningProducer, sluiceProducer } from './workload.js';

type FailureMode = 'clean_shutdown' | 'hard_shutdown' | 'clean_bounce' | 'hard_bounce';
type BrokerType = 'leader' | 'controller';

const MODES: FailureMode[] = ['clean_shutdown', 'hard_shutdown', 'clean_bounce', 'hard_bounce'];
const TYPES: BrokerType[] = ['leader', 'controller'];
const PARTITIONS = 3;

describe('Kafka replication system-test scenarios (3 brokers, RF=3, min.insync.replicas=2)', () => {
  let cluster: ChaosCluster;
  let failures = 0;

  beforeAll(async () => {
    cluster = await ChaosCluster.start();
  });

  afterAll(async () => {
    // A failed case shows what the brokers said last.
    if (failures > 0 && cluster) console.log(cluster.outputs());
    await cluster?.stop();
  });

  const target = async (type: BrokerType, topic: string): Promise<number> => {
    const admin = cluster.kafka('scenario-admin').admin();
    try {
      if (type === 'controller') return (await admin.describeCluster()).controllerId;
      return (await admin.describeTopics([topic]))[0].partitions[0].leader;
    } finally {
      await admin.close();
    }
  };

  for (const type of TYPES) {
    for (const mode of MODES) {
      it(`${mode} of the ${type}: no acknowledged record lost or duplicated (none, lz4, zstd)`, async () => {
        failures++; // undone when the case passes
        const topic = `scenario-${mode}-${type}`.replace(/_/g, '-');
        const admin = cluster.kafka('scenario-admin').admin();
        await admin.createTopics([
          { name: topic, numPartitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
        ]);
        await admin.close();
        await settle(cluster, topic);
        const log = new AckLog();
        const common = { topic, partitions: PARTITIONS, ratePerS: 100 };
        const producers: RunningProducer[] = [
          sluiceProducer(cluster, log, { ...common, name: 'plain' }),
          sluiceProducer(cluster, log, { ...common, name: 'lz4', compression: 'lz4' }),
          sluiceProducer(cluster, log, { ...common, name: 'zstd', compression: 'zstd' }),
        ];
        const group = groupConsumer(cluster, { topic, groupId: `${topic}-group` });
        let victim = -1;
        let exitCode: number | null = null;
        let content: Awaited<ReturnType<typeof readTopic>> = [];
        try {
          await sleep(2000);
          victim = await target(type, topic);
          expect(victim).toBeGreaterThan(0);
          const clean = mode.startsWith('clean');
          exitCode = await cluster.stopBroker(victim, clean ? 'SIGTERM' : 'SIGKILL');
          if (mode.endsWith('bounce')) await cluster.startBroker(victim);
          // Load while the broker is gone (shutdown) or rejoining (bounce).
          await sleep(4000);
          await cluster.startBroker(victim);
          await sleep(1000);
          await Promise.all(producers.map((p) => p.stop()));
          await settle(cluster, topic);
          content = await readTopic(cluster, topic);
          const deadline = Date.now() + 60_000;
          while (Date.now() < deadline && log.acks.some((a) => !group.consumed.has(a.value))) await sleep(250);
          await sleep(1000);
        } finally {
          await Promise.all(producers.map((p) => p.stop()));
          await group.stop();
          await cluster.heal();
        }
        const acks = checkAcks(log, content);
        const replicas = await checkReplicas(cluster, topic, content);
        const failed = [...log.failed.values()].reduce((a, b) => a + b, 0);
        const gaps = Object.fromEntries([...log.longestGapMs].map(([p, ms]) => [p, ms]));
        console.log(
          `${mode} ${type} (broker ${victim}): acked ${acks.acked}, failed sends ${failed}, lost ${acks.lost.length}, ` +
            `duplicated ${acks.duplicated.length}, longest unavailability per partition (ms) ${JSON.stringify(gaps)}`,
        );
        // A clean shutdown moves leadership first and exits 0; a SIGKILLed process has no exit code.
        expect(exitCode).toBe(mode.startsWith('clean') ? 0 : null);
        for (const p of producers) expect(log.acks.some((a) => a.producer === p.name)).toBe(true);
        expect(acks.lost.slice(0, 20)).toEqual([]);
        expect(acks.duplicated.slice(0, 20)).toEqual([]);
        expect(acks.misplaced.slice(0, 20)).toEqual([]);
        expect(replicas.filter((r) => !r.identical)).toEqual([]);
        expect(group.regressions).toEqual([]);
        expect(log.acks.filter((a) => !group.consumed.has(a.value)).length).toBe(0);
        expect(phantomReads(group.consumed, content)).toEqual([]);
        // With one broker of three away, min.insync.replicas=2 still holds: retries ride over the
        // leader change and no send fails.
        expect(failed).toBe(0);
        failures--;
      });
    }
  }
});
