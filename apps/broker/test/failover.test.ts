// The cluster's failure behaviour with real processes: three `sluice broker --node-id N --metadata
// etcd://…` processes (each its own data directory and port) on a 3-member etcd of their own, all on
// loopback. A broker or the controller is SIGKILLed, a broker is SIGSTOPped past its lease, an etcd
// member restarts, all of etcd goes down — and the test asserts what a client sees each time.
// Leases are short (broker.session.timeout.ms = 3 s) so that every case is over in seconds.

import { LocalEtcd } from '@sluice/cluster';
import {
  AlterConfigsApi,
  buildRecordBatchSync,
  CreatePartitionsApi,
  CreateTopicsApi,
  DeleteTopicsApi,
  DescribeConfigsApi,
  ERROR_CODES,
  MetadataApi,
  ProduceApi,
  ZERO_UUID,
} from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrokerProcess, RawClient, readPartition, sleep, spawnBroker, tempDir } from './helpers.js';

const SESSION_MS = 3000;
/** A dead broker leaves Metadata within its lease plus the time etcd and the watches take. */
const GONE_WITHIN_MS = SESSION_MS + 5000;
const TOPIC = 'failover';
const PARTITIONS = 6;

interface Node {
  id: number;
  dataDir: string;
  process: BrokerProcess | null;
  client: RawClient | null;
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(100);
  }
}

describe('a 3-broker cluster of processes under failures', { timeout: 120_000 }, () => {
  let etcd: LocalEtcd;
  let metadataUri: string;
  const nodes: Node[] = [];
  /** Every value a broker acknowledged, per partition, in offset order. */
  const acknowledged = new Map<number, string[]>();
  let produced = 0;

  const start = async (node: Node) => {
    node.process = await spawnBroker({
      dataDir: node.dataDir,
      args: ['--node-id', String(node.id), '--metadata', metadataUri],
      overrides: {
        'broker.session.timeout.ms': String(SESSION_MS),
        'offsets.topic.num.partitions': '3',
      },
      timeoutMs: 60_000,
    });
    node.client = await RawClient.connect(node.process.port);
  };
  const kill = async (node: Node, signal: NodeJS.Signals) => {
    node.client?.close();
    node.client = null;
    await node.process?.kill(signal);
    node.process = null;
  };
  const live = () => nodes.filter((n) => n.client !== null);

  const metadata = (c: RawClient, topics: string[] = [TOPIC]) =>
    c.send(MetadataApi, 12, {
      topics: topics.map((name) => ({ name, topicId: ZERO_UUID })),
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: false,
    });
  const leaders = async (c: RawClient) => (await metadata(c)).topics[0].partitions.map((p) => p.leaderId);

  const produce = async (c: RawClient, partition: number, value: string, topic = TOPIC) => {
    const res = await c.send(ProduceApi, 11, {
      transactionalId: null,
      acks: -1,
      timeoutMs: 5000,
      topicData: [
        {
          name: topic,
          topicId: ZERO_UUID,
          partitionData: [{ index: partition, records: buildRecordBatchSync({ records: [{ value }] }) }],
        },
      ],
    });
    const answer = res.responses[0].partitionResponses[0];
    if (answer.errorCode === 0 && topic === TOPIC) acknowledged.get(partition)!.push(value);
    return answer;
  };
  /** One record to every partition through its leader; every answer must be a success. */
  const produceEverywhere = async (from: Node[] = live()) => {
    const byId = new Map(from.map((n) => [n.id, n.client!]));
    const ls = await leaders(from[0].client!);
    for (const [p, leader] of ls.entries()) {
      const c = byId.get(leader);
      if (!c) continue;
      const answer = await produce(c, p, `v${produced++}`);
      expect(answer.errorCode, `produce to ${TOPIC}-${p} on broker ${leader}`).toBe(0);
    }
  };
  const createTopic = async (c: RawClient, name: string, numPartitions = 3) =>
    (
      await c.send(CreateTopicsApi, 7, {
        topics: [{ name, numPartitions, replicationFactor: -1, assignments: [], configs: [] }],
        timeoutMs: 10_000,
        validateOnly: false,
      })
    ).topics[0];

  beforeAll(async () => {
    etcd = await LocalEtcd.start({ members: 3 });
    metadataUri = `etcd://${etcd.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`;
    for (const id of [1, 2, 3])
      nodes.push({ id, dataDir: tempDir(`sluice-failover-${id}-`), process: null, client: null });
    await Promise.all(nodes.map(start));
    await until(
      'three brokers in Metadata',
      async () => (await metadata(nodes[0].client!, [])).brokers.length === 3,
      15_000,
    );
    expect((await createTopic(nodes[0].client!, TOPIC, PARTITIONS)).errorCode).toBe(0);
    for (let p = 0; p < PARTITIONS; p++) acknowledged.set(p, []);
    await until(
      'every partition led on every broker',
      async () => {
        for (const n of nodes) if ((await leaders(n.client!)).some((l) => l < 0)) return false;
        return true;
      },
      15_000,
    );
    await produceEverywhere();
  }, 120_000);

  afterAll(async () => {
    for (const n of nodes) {
      n.client?.close();
      if (n.process) {
        n.process.child.kill('SIGCONT');
        await n.process.kill('SIGKILL');
      }
    }
    await etcd?.stop();
  });

  /** Every partition readable on its leader with exactly the acknowledged values. */
  const expectAllAcknowledged = async () => {
    const byId = new Map(live().map((n) => [n.id, n.client!]));
    const ls = await leaders(live()[0].client!);
    for (const [p, leader] of ls.entries()) {
      expect(leader, `leader of ${TOPIC}-${p}`).toBeGreaterThan(0);
      const values = (await readPartition(byId.get(leader)!, TOPIC, p)).map((r) => r.value!.toString());
      expect(values, `${TOPIC}-${p}`).toEqual(acknowledged.get(p));
    }
  };

  it('restarting one etcd member of three goes unnoticed by clients and brokers', async () => {
    const controller = (await metadata(nodes[0].client!)).controllerId;
    const before = await leaders(nodes[0].client!);
    let stop = false;
    let rounds = 0;
    const traffic = (async () => {
      while (!stop) {
        await produceEverywhere();
        for (const n of nodes) {
          const md = await metadata(n.client!);
          expect(md.brokers.map((b) => b.nodeId)).toEqual([1, 2, 3]);
          expect(md.controllerId).toBe(controller);
          expect(md.topics[0].partitions.map((p) => p.leaderId)).toEqual(before);
        }
        rounds++;
      }
    })();
    try {
      await sleep(300);
      await etcd.stopMember(0);
      await sleep(1000);
      await etcd.startMember(0);
      await sleep(SESSION_MS);
    } finally {
      stop = true;
      await traffic;
    }
    expect(rounds).toBeGreaterThan(3);
    for (const n of nodes) expect(n.process!.output()).not.toContain('registration lapsed');
  });

  it('SIGKILL of a broker that is not the controller: its partitions lose their leader, the others serve on; back, it serves all it acknowledged', async () => {
    const controller = (await metadata(nodes[0].client!)).controllerId;
    const victim = nodes.find((n) => n.id !== controller)!;
    const survivors = nodes.filter((n) => n !== victim);
    const ledByVictim = (await leaders(victim.client!)).flatMap((l, p) => (l === victim.id ? [p] : []));
    expect(ledByVictim.length).toBeGreaterThan(0);
    await kill(victim, 'SIGKILL');
    const killedAt = Date.now();

    for (const s of survivors) {
      await until(
        `broker ${victim.id} gone from broker ${s.id}'s Metadata`,
        async () => {
          const md = await metadata(s.client!);
          return !md.brokers.some((b) => b.nodeId === victim.id);
        },
        GONE_WITHIN_MS,
      );
    }
    const md = await until(
      'its partitions without a leader',
      async () => {
        const m = await metadata(survivors[0].client!);
        return ledByVictim.every((p) => m.topics[0].partitions[p].leaderId === -1) && m;
      },
      GONE_WITHIN_MS,
    );
    expect(Date.now() - killedAt).toBeLessThan(GONE_WITHIN_MS);
    for (const p of ledByVictim) {
      expect(md.topics[0].partitions[p].errorCode).toBe(ERROR_CODES.LEADER_NOT_AVAILABLE);
      // A client that sends there anyway gets a retriable error.
      expect((await produce(survivors[0].client!, p, 'nowhere')).errorCode).toBe(ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
    }
    // The other brokers keep serving the partitions they lead.
    await produceEverywhere(survivors);

    await start(victim);
    await until(
      `broker ${victim.id} leading its partitions again`,
      async () => {
        for (const n of nodes) {
          const ls = await leaders(n.client!);
          if (!ledByVictim.every((p) => ls[p] === victim.id)) return false;
        }
        return true;
      },
      GONE_WITHIN_MS,
    );
    await produceEverywhere();
    await expectAllAcknowledged();
  });

  it('SIGKILL of the controller: another broker becomes controller within the lease bound and CreateTopics works', async () => {
    const controller = (await metadata(nodes[0].client!)).controllerId;
    const victim = nodes.find((n) => n.id === controller)!;
    const survivors = nodes.filter((n) => n !== victim);
    await kill(victim, 'SIGKILL');
    const killedAt = Date.now();
    const next = await until(
      'a new controller',
      async () => {
        const ids = await Promise.all(survivors.map(async (s) => (await metadata(s.client!, [])).controllerId));
        return ids.every((id) => id === ids[0] && id !== controller && id > 0) && ids[0];
      },
      GONE_WITHIN_MS,
    );
    expect(survivors.map((s) => s.id)).toContain(next);
    const tookMs = Date.now() - killedAt;
    expect(tookMs).toBeLessThan(GONE_WITHIN_MS);
    const created = await createTopic(survivors[0].client!, 'after-controller-death', 4);
    expect(created.errorCode).toBe(0);
    const md = await until(
      'the new topic led on the live brokers',
      async () => {
        const m = await metadata(survivors[1].client!, ['after-controller-death']);
        return m.topics[0].partitions.length === 4 && m.topics[0].partitions.every((p) => p.leaderId > 0) && m;
      },
      GONE_WITHIN_MS,
    );
    // Placed on the brokers that are alive.
    for (const p of md.topics[0].partitions) expect(survivors.map((s) => s.id)).toContain(p.leaderId);

    await start(victim);
    await until(
      'all partitions led again',
      async () => (await leaders(victim.client!)).every((l) => l > 0),
      GONE_WITHIN_MS,
    );
    await produceEverywhere();
    await expectAllAcknowledged();
  });

  it('SIGSTOP past the lease fences a broker: after SIGCONT a write it received meanwhile is refused, and it leads again only under a new registration', async () => {
    const controller = (await metadata(nodes[0].client!)).controllerId;
    const victim = nodes.find((n) => n.id !== controller)!;
    const survivors = nodes.filter((n) => n !== victim);
    const p = (await leaders(victim.client!)).indexOf(victim.id);
    expect(p).toBeGreaterThanOrEqual(0);
    const before = acknowledged.get(p)!.length;
    const epochBefore = (await metadata(victim.client!)).topics[0].partitions[p].leaderEpoch;
    // Clients that still believe the old metadata write to it while it is stopped; the requests wait
    // in the sockets (several connections, so that some are read before etcd's news on waking).
    const writers = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(victim.process!.port)));
    const stale: Promise<{ errorCode: number }>[] = [];
    const staleValue = (i: number) => `written-to-a-fenced-broker-${i}`;
    victim.process!.child.kill('SIGSTOP');
    try {
      stale.push(produce(writers[0], p, staleValue(0)));
      await until(
        `broker ${victim.id} fenced: gone from Metadata, ${TOPIC}-${p} without a leader`,
        async () => {
          const md = await metadata(survivors[0].client!);
          return !md.brokers.some((b) => b.nodeId === victim.id) && md.topics[0].partitions[p].leaderId === -1;
        },
        GONE_WITHIN_MS,
      );
      for (const [i, w] of writers.slice(1).entries()) {
        stale.push(produce(w, p, staleValue(i + 1)));
        await sleep(50);
      }
    } finally {
      victim.process!.child.kill('SIGCONT');
    }
    // The broker wakes up still holding its old registration in memory: it must take none of them under
    // it. A write it reads only after it has registered again and been given the partition back (it can
    // happen on a loaded machine) is a write to the rightful leader, taken under the new leader epoch.
    const answers = await Promise.all(stale);
    for (const w of writers) w.close();
    const codes = answers.map((a) => a.errorCode);
    for (const code of codes) expect([ERROR_CODES.NOT_LEADER_OR_FOLLOWER, 0]).toContain(code);
    expect(codes, 'the writes read before it registered again are refused').toContain(
      ERROR_CODES.NOT_LEADER_OR_FOLLOWER,
    );
    // It registers again (a new broker epoch) and the controller gives it its partition back.
    await until(
      `broker ${victim.id} leading ${TOPIC}-${p} again`,
      async () => {
        for (const n of nodes) if ((await leaders(n.client!))[p] !== victim.id) return false;
        return true;
      },
      GONE_WITHIN_MS,
    );
    expect(victim.process!.output()).toContain('registration lapsed');
    expect((await produce(victim.client!, p, 'after-the-fence')).errorCode).toBe(0);
    const records = (await readPartition(victim.client!, TOPIC, p)).slice(before);
    const taken = records.filter((r) => r.value!.toString().startsWith('written-to-a-fenced-broker'));
    expect(taken.map((r) => r.value!.toString()).sort()).toEqual(
      codes.flatMap((code, i) => (code === 0 ? [staleValue(i)] : [])).sort(),
    );
    for (const r of taken) expect(r.leaderEpoch, 'taken under the new leader epoch').toBeGreaterThan(epochBefore);
    expect(records.filter((r) => !taken.includes(r)).map((r) => r.value!.toString())).toEqual(['after-the-fence']);
    await expectAllAcknowledged();
  });

  it('all of etcd down: brokers serve Produce/Fetch on what they lead, refuse metadata changes with REQUEST_TIMED_OUT, and recover', async () => {
    await etcd.stopAll();
    try {
      // Longer than twice the lease: serving does not depend on heartbeats getting through.
      const until_ = Date.now() + 2 * SESSION_MS + 1000;
      while (Date.now() < until_) {
        await produceEverywhere();
        await sleep(200);
      }
      await expectAllAcknowledged();
      const c = nodes[1].client!;
      const timed = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
        const t0 = Date.now();
        const r = await f();
        expect(Date.now() - t0, `${what} answered in time`).toBeLessThan(30_000);
        return r;
      };
      expect((await timed('CreateTopics', () => createTopic(c, 'while-etcd-is-down'))).errorCode).toBe(
        ERROR_CODES.REQUEST_TIMED_OUT,
      );
      const deleted = await timed('DeleteTopics', () =>
        c.send(DeleteTopicsApi, 6, { topics: [{ name: TOPIC, topicId: ZERO_UUID }], timeoutMs: 10_000 }),
      );
      expect(deleted.responses[0].errorCode).toBe(ERROR_CODES.REQUEST_TIMED_OUT);
      const grown = await timed('CreatePartitions', () =>
        c.send(CreatePartitionsApi, 3, {
          topics: [{ name: TOPIC, count: PARTITIONS + 2, assignments: null }],
          timeoutMs: 10_000,
          validateOnly: false,
        }),
      );
      expect(grown.results[0].errorCode).toBe(ERROR_CODES.REQUEST_TIMED_OUT);
      const altered = await timed('AlterConfigs', () =>
        c.send(AlterConfigsApi, 2, {
          resources: [{ resourceType: 2, resourceName: TOPIC, configs: [{ name: 'retention.ms', value: '12345' }] }],
          validateOnly: false,
        }),
      );
      expect(altered.responses[0].errorCode).toBe(ERROR_CODES.REQUEST_TIMED_OUT);
      // The refused change is not kept by the broker that took the request either.
      const described = await c.send(DescribeConfigsApi, 4, {
        resources: [{ resourceType: 2, resourceName: TOPIC, configurationKeys: ['retention.ms'] }],
        includeSynonyms: false,
        includeDocumentation: false,
      });
      expect(described.results[0].configs.map((x) => [x.name, x.value])).toEqual([['retention.ms', '604800000']]);
      // Nothing changed anywhere meanwhile.
      for (const n of nodes) {
        const md = await metadata(n.client!, [TOPIC, 'while-etcd-is-down']);
        expect(md.topics[0].partitions).toHaveLength(PARTITIONS);
        expect(md.topics[1].errorCode).toBe(ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION);
      }
    } finally {
      await etcd.startAll();
    }
    // Back: etcd kept the leases over its restart and the brokers never stopped heartbeating them,
    // so every registration goes on as it was — no partition loses its leader on the way.
    let stopWatching = false;
    const back = Date.now();
    const leaderless: string[] = [];
    const watching = (async () => {
      while (!stopWatching) {
        for (const n of nodes) {
          const md = await metadata(n.client!);
          for (const p of md.topics[0].partitions) {
            if (p.leaderId < 0)
              leaderless.push(`${TOPIC}-${p.partitionIndex} on broker ${n.id} at +${Date.now() - back} ms`);
          }
        }
        await sleep(20);
      }
    })();
    // Metadata changes work again, every broker is listed and every partition led.
    const created = await until(
      'CreateTopics to work again',
      async () => (await createTopic(nodes[0].client!, 'after-etcd-is-back')).errorCode === 0,
      20_000,
    );
    expect(created).toBe(true);
    await until(
      'three brokers and every partition led',
      async () => {
        for (const n of nodes) {
          const md = await metadata(n.client!);
          if (md.brokers.length !== 3 || md.topics[0].partitions.some((x) => x.leaderId < 0)) return false;
        }
        return true;
      },
      20_000,
    );
    // A lease's life more: a broker that had to register anew would have shown by now.
    await sleep(SESSION_MS);
    stopWatching = true;
    await watching;
    // On a failure, what the brokers said of their registrations and the controller tells why.
    const said = nodes
      .map(
        (n) =>
          `broker ${n.id}:\n${n
            .process!.output()
            .split('\n')
            .filter((l) => /registration|fenced|controller|lease/i.test(l))
            .slice(-20)
            .join('\n')}`,
      )
      .join('\n');
    expect(leaderless, said).toEqual([]);
    await produceEverywhere();
    await expectAllAcknowledged();
  });
});
