// The randomized fault-injection run (`npm run test:chaos`): 3 broker processes on a 3-member etcd,
// a topic with replication factor 3 and min.insync.replicas=2, idempotent acks=all producers
// (@sluice/client, librdkafka, Java's VerifiableProducer) writing numbered records and a consumer
// group consuming along, while the nemesis kills, pauses and cuts off brokers and restarts etcd
// members for CHAOS_DURATION_S seconds (default 120). Then everything is healed and checked: every
// acknowledged record stored exactly once at its acknowledged offset, replicas byte-identical up to
// the high watermark, committed group offsets never backwards. The figures are printed, and written
// as JSON to CHAOS_REPORT when set.

import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../../apps/broker/test/helpers.js';
import { CHAOS_BROKER_SETTINGS, ChaosCluster } from './cluster.js';
import { type FaultKind, Nemesis } from './nemesis.js';
import { checkAcks, checkReplicas, phantomReads, readTopic, settle } from './verify.js';
import {
  AckLog,
  groupConsumer,
  javaProducer,
  RDKAFKA_PYTHON,
  type RunningProducer,
  rdkafkaProducer,
  sluiceProducer,
} from './workload.js';

const DURATION_S = Number(process.env.CHAOS_DURATION_S ?? 120);
const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
/** Which producers run: sluice, rdkafka, java (all by default). */
const CLIENTS = (process.env.CHAOS_CLIENTS ?? 'sluice,rdkafka,java').split(',');
/** Only these fault kinds (comma-separated, nemesis.ts names), for repeating one kind of fault. */
const FAULTS = (process.env.CHAOS_FAULTS ?? '').split(',').filter(Boolean) as FaultKind[];
const TOPIC = 'chaos';
const PARTITIONS = 3;

if (!Number.isFinite(DURATION_S) || DURATION_S <= 0)
  throw new Error(`CHAOS_DURATION_S=${process.env.CHAOS_DURATION_S}`);

/** The librdkafka venv comes from the conformance suite's client setup; made here when missing. */
function ensureRdkafka(): void {
  if (existsSync(RDKAFKA_PYTHON)) return;
  const r = spawnSync('bash', ['test/conformance/clients/setup.sh'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0 || !existsSync(RDKAFKA_PYTHON)) {
    throw new Error(`no confluent-kafka venv at ${RDKAFKA_PYTHON} (CHAOS_CLIENTS without rdkafka runs without it)`);
  }
}

describe(`chaos: ${DURATION_S} s of faults against 3 brokers, RF=3, min.insync.replicas=2`, () => {
  let cluster: ChaosCluster;
  let passed = false;

  beforeAll(async () => {
    if (CLIENTS.includes('rdkafka')) ensureRdkafka();
    if (CLIENTS.includes('java') && spawnSync('java', ['-version']).status !== 0) {
      throw new Error('the Java producer needs `java` on PATH (CHAOS_CLIENTS without java runs without it)');
    }
    cluster = await ChaosCluster.start();
    const admin = cluster.kafka('chaos-admin').admin();
    await admin.createTopics([
      { name: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3, configs: { 'min.insync.replicas': '2' } },
    ]);
    await admin.close();
    await settle(cluster, TOPIC);
  });

  afterAll(async () => {
    // A failed run shows what the brokers said last.
    if (!passed && cluster) console.log(cluster.outputs());
    await cluster?.stop();
  });

  it('loses and duplicates no acknowledged record; replicas identical; group offsets never backwards', async () => {
    const log = new AckLog();
    const producers: RunningProducer[] = [];
    const common = { topic: TOPIC, partitions: PARTITIONS };
    if (CLIENTS.includes('sluice')) {
      producers.push(sluiceProducer(cluster, log, { ...common, name: 'sluice-plain', ratePerS: 150 }));
      producers.push(
        sluiceProducer(cluster, log, { ...common, name: 'sluice-zstd', ratePerS: 100, compression: 'zstd' }),
      );
    }
    if (CLIENTS.includes('rdkafka')) {
      producers.push(
        rdkafkaProducer(cluster, log, { ...common, name: 'rdkafka-lz4', ratePerS: 100, compression: 'lz4' }),
      );
    }
    if (CLIENTS.includes('java')) {
      producers.push(javaProducer(cluster, log, { topic: TOPIC, name: 'java', ratePerS: 100, valuePrefix: 7 }));
    }
    const group = groupConsumer(cluster, { topic: TOPIC, groupId: 'chaos-group' });
    const nemesis = new Nemesis(cluster, {
      topic: TOPIC,
      seed: SEED,
      sessionTimeoutMs: Number(CHAOS_BROKER_SETTINGS['broker.session.timeout.ms']),
      replicaLagMs: Number(CHAOS_BROKER_SETTINGS['replica.lag.time.max.ms']),
    });
    const started = Date.now();
    let content: Awaited<ReturnType<typeof readTopic>> = [];
    try {
      await sleep(5000);
      nemesis.start(FAULTS);
      await sleep(DURATION_S * 1000);
      await nemesis.stop();
      await cluster.heal();
      // A few seconds of load on the healed cluster, then every outstanding send gets its outcome.
      await sleep(5000);
      await Promise.all(producers.map((p) => p.stop()));
      await settle(cluster, TOPIC);
      content = await readTopic(cluster, TOPIC);
      // The group catches up with everything acknowledged (bounded), committing as it goes.
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline && log.acks.some((a) => !group.consumed.has(a.value))) await sleep(500);
      await sleep(1500);
    } finally {
      await nemesis.stop();
      await Promise.all(producers.map((p) => p.stop()));
      await group.stop();
    }
    const acks = checkAcks(log, content);
    const replicas = await checkReplicas(cluster, TOPIC, content);
    const notConsumed = log.acks.filter((a) => !group.consumed.has(a.value)).length;
    const phantoms = phantomReads(group.consumed, content);
    const byKind: Record<string, number> = {};
    for (const f of nemesis.faults) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
    const perProducer = Object.fromEntries(
      producers.map((p) => [
        p.name,
        {
          sent: log.sent.get(p.name) ?? 0,
          acked: log.acks.filter((a) => a.producer === p.name).length,
          failed: log.failed.get(p.name) ?? 0,
        },
      ]),
    );
    const figures = {
      seed: SEED,
      durationS: DURATION_S,
      wallS: Math.round((Date.now() - started) / 1000),
      faultsInjected: nemesis.faults.length,
      faultsByKind: byKind,
      recordsAcked: acks.acked,
      lost: acks.lost.length,
      duplicated: acks.duplicated.length,
      misplaced: acks.misplaced.length,
      producers: perProducer,
      longestUnavailabilityMsPerPartition: Object.fromEntries(
        [...Array(PARTITIONS).keys()].map((p) => [p, log.longestGapMs.get(p) ?? null]),
      ),
      replicas: replicas.map((r) => ({
        partition: r.partition,
        highWatermark: String(r.highWatermark),
        bytes: r.bytes,
        identical: r.identical,
      })),
      groupCommitsSeen: group.commitsSeen,
      groupOffsetRegressions: group.regressions.length,
      ackedNotConsumedByGroup: notConsumed,
      consumedButNotStored: phantoms.length,
      groupMemberRestarts: group.memberErrors.length,
      fatalClientErrors: log.fatal,
      samples: {
        lost: acks.lost.slice(0, 10),
        duplicated: acks.duplicated.slice(0, 10),
        misplaced: acks.misplaced.slice(0, 10),
      },
      faults: nemesis.faults,
    };
    console.log(`chaos figures: ${JSON.stringify(figures, null, 2)}`);
    if (process.env.CHAOS_REPORT) writeFileSync(process.env.CHAOS_REPORT, `${JSON.stringify(figures, null, 2)}\n`);

    expect(nemesis.faults.length).toBeGreaterThan(0);
    for (const p of producers) expect(perProducer[p.name].acked, `${p.name} acknowledged nothing`).toBeGreaterThan(0);
    expect(log.fatal).toEqual([]);
    expect(acks.lost.slice(0, 20)).toEqual([]);
    expect(acks.duplicated.slice(0, 20)).toEqual([]);
    expect(acks.misplaced.slice(0, 20)).toEqual([]);
    expect(replicas.filter((r) => !r.identical)).toEqual([]);
    expect(group.regressions).toEqual([]);
    expect(group.commitsSeen).toBeGreaterThan(0);
    expect(notConsumed).toBe(0);
    expect(phantoms.slice(0, 20)).toEqual([]);
    passed = true;
  });
});
