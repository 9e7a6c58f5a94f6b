import type { RunningBroker } from '@sluice/broker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admin, Consumer, type ConsumerRecord, Producer, serde, type TopicPartition, topic } from '../src/index.js';
import { sluice, uniqueTopic } from './helpers.js';

let broker: RunningBroker;
beforeAll(async () => {
  broker = await sluice(1);
});
afterAll(async () => {
  await broker.stop();
});

const key = (tp: TopicPartition) => `${tp.topic}-${tp.partition}`;

async function produce(name: string, count: number, partitions: number): Promise<void> {
  const admin = new Admin({ brokers: [broker.bootstrap] });
  await admin.createTopics([{ name, numPartitions: partitions }]);
  await admin.close();
  const p = new Producer({ brokers: [broker.bootstrap] });
  const t = topic(name, { key: serde.string(), value: serde.int32() });
  await Promise.all(Array.from({ length: count }, (_, n) => p.send(t, { key: `k${n}`, value: n })));
  await p.close();
}

describe('consumer groups', () => {
  it('commits on close and resumes from the committed offsets', async () => {
    const name = uniqueTopic('commit');
    await produce(name, 100, 2);
    const t = topic(name, { key: serde.string(), value: serde.int32() });
    const groupId = uniqueTopic('g');
    const c1 = new Consumer(
      { brokers: [broker.bootstrap] },
      { groupId, autoOffsetReset: 'earliest', heartbeatIntervalMs: 200 },
    );
    const first: number[] = [];
    for await (const r of c1.records(t)) {
      first.push(r.value);
      if (first.length === 60) break;
    }
    await c1.close();
    const admin = new Admin({ brokers: [broker.bootstrap] });
    const committed = await admin.fetchGroupOffsets(groupId);
    expect(committed.reduce((s, o) => s + Number(o.offset), 0)).toBe(60);
    const c2 = new Consumer(
      { brokers: [broker.bootstrap] },
      { groupId, autoOffsetReset: 'earliest', heartbeatIntervalMs: 200 },
    );
    const rest: number[] = [];
    for await (const r of c2.records(t)) {
      rest.push(r.value);
      if (rest.length === 40) break;
    }
    await c2.close();
    expect(new Set([...first, ...rest]).size).toBe(100);
    expect((await admin.describeGroup(groupId)).state).toBe('Empty');
    await admin.close();
  });

  /** A promise and the function that resolves it, to hold a loop body open until the test lets it go. */
  function signal(): [Promise<void>, () => void] {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    return [promise, resolve];
  }

  // Two members closing at once after reading everything used to commit 398 or 399 of 400 against
  // Apache Kafka: close() committed while a loop body was still busy with the last record handed out.
  it('commits on close every record handed to the application, even one whose loop body is still running', async () => {
    const name = uniqueTopic('close-mid-body');
    await produce(name, 10, 1);
    const t = topic(name, { key: serde.string(), value: serde.int32() });
    const groupId = uniqueTopic('g');
    const c = new Consumer({ brokers: [broker.bootstrap] }, { groupId, autoOffsetReset: 'earliest' });
    const [open, gate] = signal();
    const [atLast, reachedLast] = signal();
    let read = 0;
    const reading = (async () => {
      for await (const _ of c.records(t)) {
        read++;
        if (read === 10) {
          reachedLast();
          await open; // still working on record 10 when close() is called
        }
      }
    })();
    await atLast;
    await c.close();
    gate();
    await reading;
    const admin = new Admin({ brokers: [broker.bootstrap] });
    expect((await admin.fetchGroupOffsets(groupId))[0]?.offset).toBe(10n);
    await admin.close();
  });

  it('commits on close the batch run() is handling', async () => {
    const name = uniqueTopic('close-mid-batch');
    await produce(name, 10, 1);
    const t = topic(name, { key: serde.string(), value: serde.int32() });
    const groupId = uniqueTopic('g');
    const c = new Consumer({ brokers: [broker.bootstrap] }, { groupId, autoOffsetReset: 'earliest' });
    const [open, gate] = signal();
    let handled = 0;
    const [busy, inHandler] = signal();
    const running = c.run(t, async (records) => {
      handled += records.length;
      if (handled === 10) {
        inHandler();
        await open;
      }
    });
    await busy;
    await c.close();
    gate();
    await running;
    const admin = new Admin({ brokers: [broker.bootstrap] });
    expect((await admin.fetchGroupOffsets(groupId))[0]?.offset).toBe(10n);
    await admin.close();
  });

  it('commits what it read on the auto-commit interval while no new records arrive', async () => {
    const name = uniqueTopic('idle');
    const admin = new Admin({ brokers: [broker.bootstrap] });
    await admin.createTopics([{ name, numPartitions: 1 }]);
    const t = topic(name, { key: serde.string(), value: serde.int32() });
    const groupId = uniqueTopic('g');
    let assigned!: () => void;
    const isAssigned = new Promise<void>((resolve) => {
      assigned = resolve;
    });
    const c = new Consumer(
      { brokers: [broker.bootstrap] },
      { groupId, autoOffsetReset: 'earliest', autoCommitIntervalMs: 2000, onRebalance: { assigned: () => assigned() } },
    );
    let read = 0;
    const reading = (async () => {
      for await (const _ of c.records(t)) read++;
    })();
    try {
      // The records arrive well within one commit interval of the consumer's first poll, and then
      // nothing more: only a commit made while the consumer waits can store them.
      await isAssigned;
      const p = new Producer({ brokers: [broker.bootstrap] });
      await Promise.all(Array.from({ length: 30 }, (_, n) => p.send(t, { key: `k${n}`, value: n })));
      await p.close();
      const deadline = Date.now() + 15_000;
      let committed = -1n;
      while (Date.now() < deadline && committed !== 30n) {
        await new Promise((res) => setTimeout(res, 100));
        committed = (await admin.fetchGroupOffsets(groupId))[0]?.offset ?? -1n;
      }
      expect({ read, committed }).toEqual({ read: 30, committed: 30n });
    } finally {
      await c.close();
      await reading;
      await admin.close();
    }
  });

  it.each([
    'range',
    'roundrobin',
    'cooperative-sticky',
  ] as const)('splits partitions between two members with the %s assignor and never lets two own one', async (assignor) => {
    const name = uniqueTopic(`split-${assignor}`);
    await produce(name, 600, 6);
    const t = topic(name, { key: serde.string(), value: serde.int32() });
    const groupId = uniqueTopic('g');
    const owned = new Map<string, string>();
    const violations: string[] = [];
    const seen = new Map<number, number>();
    const mk = (id: string) =>
      new Consumer(
        { brokers: [broker.bootstrap] },
        {
          groupId,
          assignors: [assignor],
          autoOffsetReset: 'earliest',
          heartbeatIntervalMs: 100,
          autoCommitIntervalMs: 100,
          onRebalance: {
            assigned: (tps) => {
              for (const tp of tps) {
                const o = owned.get(key(tp));
                if (o !== undefined && o !== id) violations.push(`${key(tp)} to ${id} while ${o} owns it`);
                owned.set(key(tp), id);
              }
            },
            revoked: (tps) => {
              for (const tp of tps) if (owned.get(key(tp)) === id) owned.delete(key(tp));
            },
          },
        },
      );
    const c1 = mk('c1');
    const c2 = mk('c2');
    // Each member reads until it is closed: a member that stopped iterating after the last record
    // would stop taking part in rebalances, and the second member's join would wait for it.
    const read = async (c: Consumer) => {
      for await (const r of c.records(t)) {
        seen.set(r.value, (seen.get(r.value) ?? 0) + 1);
        // Slow down so the second member joins while the first is still reading.
        if (seen.size % 50 === 0) await new Promise((res) => setTimeout(res, 20));
      }
    };
    const r1 = read(c1);
    await new Promise((res) => setTimeout(res, 150));
    const r2 = read(c2);
    // Both members end up with three partitions each once the group is stable.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (c1.assignment().length !== 3 || c2.assignment().length !== 3)) {
      await new Promise((res) => setTimeout(res, 50));
    }
    expect([c1.assignment().length, c2.assignment().length]).toEqual([3, 3]);
    const all = [...c1.assignment(), ...c2.assignment()].map(key);
    expect(new Set(all).size).toBe(6);
    while (Date.now() < deadline && seen.size < 600) await new Promise((res) => setTimeout(res, 20));
    await Promise.all([c1.close(), c2.close()]);
    await Promise.all([r1, r2]);
    expect(violations).toEqual([]);
    expect(seen.size).toBe(600);
  });

  it('gives a static member that restarts within its session timeout its assignment back without a rebalance', async () => {
    const name = uniqueTopic('static');
    await produce(name, 40, 4);
    const t = topic(name, { key: serde.string(), value: serde.int32() });
    const groupId = uniqueTopic('g');
    const events: string[] = [];
    const mk = (instance: string) =>
      new Consumer(
        { brokers: [broker.bootstrap] },
        {
          groupId,
          groupInstanceId: instance,
          // Eager: any rebalance would revoke every partition of the member that stayed.
          assignors: ['range'],
          autoOffsetReset: 'earliest',
          sessionTimeoutMs: 10_000,
          heartbeatIntervalMs: 50,
          onRebalance: {
            assigned: (tps) => {
              events.push(`${instance} assigned ${tps.map(key).sort().join(',')}`);
            },
            revoked: (tps) => {
              events.push(`${instance} revoked ${tps.map(key).sort().join(',')}`);
            },
            lost: (tps) => {
              events.push(`${instance} lost ${tps.map(key).sort().join(',')}`);
            },
          },
        },
      );
    const waitFor = async (what: string, ok: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!ok()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${events.join('; ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const a = mk('a');
    const b = mk('b');
    const runA = a.run(t, () => {});
    const runB = b.run(t, () => {});
    await waitFor(
      'two members with two partitions each',
      () => a.assignment().length === 2 && b.assignment().length === 2,
    );
    const generation = b.groupMetadata()?.generationId ?? -1;
    expect(a.groupMetadata()?.generationId).toBe(generation);
    const before = a.assignment().map(key).sort();
    const oldMemberId = a.groupMetadata()?.memberId;

    // A static member's close does not leave the group; its replacement comes back with the same instance id.
    await a.close();
    await runA;
    events.length = 0;
    const a2 = mk('a');
    const runA2 = a2.run(t, () => {});
    await waitFor('the restarted member to get partitions', () => a2.assignment().length === 2);
    // Several heartbeats of b: a rebalance would show up as REBALANCE_IN_PROGRESS by now.
    await new Promise((r) => setTimeout(r, 400));

    expect(a2.assignment().map(key).sort()).toEqual(before);
    expect(a2.groupMetadata()?.generationId).toBe(generation);
    expect(b.groupMetadata()?.generationId).toBe(generation);
    expect(a2.groupMetadata()?.memberId).not.toBe(oldMemberId);
    expect(b.assignment()).toHaveLength(2);
    expect(events).toEqual([`a assigned ${before.join(',')}`]);
    const admin = new Admin({ brokers: [broker.bootstrap] });
    const g = await admin.describeGroup(groupId);
    expect(g.state).toBe('Stable');
    expect(g.members).toHaveLength(2);
    await admin.close();
    await Promise.all([a2.close(), b.close()]);
    await Promise.all([runA2, runB]);
  });
});

export type { ConsumerRecord };
