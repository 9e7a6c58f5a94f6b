// Exactly-once mirroring (`B.exactly.once.source.support = enabled`): `sluice mirror` SIGKILLed in the
// middle of the copy and restarted; a read_committed reader of the target then finds every source
// record exactly once, in order, per partition — the killed mirror's open transaction (records and
// positions together) was aborted and the restart resumed from the last committed positions.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningBroker } from '@sluice/broker';
import { Admin } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readToEnd } from '../src/internal-topics.js';
import { produceNumbered, readAll, sluice, startMirror, totalRecords, waitFor } from './helpers.js';

const PARTITIONS = 3;
const PER_PARTITION = 10_000;

let a: RunningBroker;
let b: RunningBroker;
const children: ChildProcess[] = [];

beforeAll(async () => {
  [a, b] = await Promise.all([sluice(), sluice()]);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await Promise.all([a?.stop(), b?.stop()]);
});

/** Records of `name` on the target up to its end (read_committed: up to the last stable offset). */
async function count(name: string, isolation: 'read_committed' | 'read_uncommitted'): Promise<number> {
  let n = 0;
  await readToEnd(
    { brokers: [b.bootstrap] },
    name,
    () => {
      n++;
    },
    isolation,
  );
  return n;
}

/** Keys of the committed records of `name` on the target, per partition in offset order. */
async function committedKeys(name: string): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  await readToEnd(
    { brokers: [b.bootstrap] },
    name,
    (r) => {
      let list = out.get(r.partition);
      if (list === undefined) {
        list = [];
        out.set(r.partition, list);
      }
      list.push(String(r.key));
    },
    'read_committed',
  );
  return out;
}

it('finds every record exactly once on the target after a SIGKILL mid-copy', { timeout: 180_000 }, async () => {
  const admin = new Admin({ brokers: [a.bootstrap] });
  await admin.createTopics([{ name: 'orders', numPartitions: PARTITIONS }]);
  await admin.close();
  await produceNumbered([a.bootstrap], 'orders', PARTITIONS, 0, PER_PARTITION);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-mirror-eos-'));
  const configFile = join(dir, 'mirror.properties');
  writeFileSync(
    configFile,
    [
      'clusters = A, B',
      `A.bootstrap.servers = ${a.bootstrap}`,
      `B.bootstrap.servers = ${b.bootstrap}`,
      'A->B.enabled = true',
      'A->B.topics = orders',
      'B.exactly.once.source.support = enabled',
      // A transaction commits every 200 ms: the copy takes a second or two on loopback, so the kill
      // lands with one open and others committed before it.
      'offset.flush.interval.ms = 200',
      'producer.buffer.memory = 65536',
      'log.level = warn',
      '',
    ].join('\n'),
  );
  const total = BigInt(PARTITIONS * PER_PARTITION);

  const first = startMirror(configFile, children);
  // Killed once some transactions committed and while one holds copied records not yet committed.
  await waitFor(
    'part of the copy committed and more in an open transaction',
    async () => {
      const committed = await count('A.orders', 'read_committed');
      return committed > Number(total) / 5 && (await count('A.orders', 'read_uncommitted')) > committed;
    },
    60_000,
  );
  first.child.kill('SIGKILL');
  await first.exited;
  const written = await totalRecords([b.bootstrap], 'A.orders');
  expect(written).toBeLessThan(total);

  const second = startMirror(configFile, children);
  const source = await readAll([a.bootstrap], 'orders');
  const want = new Map([...source].map(([p, rs]) => [p, rs.map((r) => String(r.key))]));
  await waitFor(
    'every record committed on the target',
    async () => (await count('A.orders', 'read_committed')) >= Number(total),
    120_000,
  );
  // Let a further commit land (it must add nothing), then compare.
  await new Promise((r) => setTimeout(r, 1200));
  const got = await committedKeys('A.orders');
  for (let p = 0; p < PARTITIONS; p++) expect(got.get(p)).toEqual(want.get(p));

  // Read uncommitted, the target also holds the killed mirror's aborted copies.
  const rawCount = await count('A.orders', 'read_uncommitted');
  console.log(
    `SIGKILL with ${written} of ${total} records written: ${rawCount - Number(total)} aborted copies, none read committed`,
  );

  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);
});
