// `sluice mirror` as a process (bin/sluice.js, the built CLI: `npm run build` first, as `npm test` does),
// SIGKILLed mid-copy and restarted: nothing lost, every partition in order, duplicates only from
// the SIGKILL (records copied after the last stored position); a SIGTERM stop adds none.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningBroker } from '@sluice/broker';
import { Admin } from '@sluice/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { produceNumbered, readAll, sluice, startMirror as startMirrorIn, totalRecords, waitFor } from './helpers.js';

const PARTITIONS = 3;
const PER_PARTITION = 15_000;

const startMirror = (configFile: string) => startMirrorIn(configFile, children);
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

function produce(name: string, from: number, to: number): Promise<void> {
  return produceNumbered([a.bootstrap], name, PARTITIONS, from, to);
}

/**
 * Checks a target partition against the source: the source's records in order, where the copy may
 * restart once from an earlier record (the stored position). Returns the records copied twice.
 */
function duplicates(source: string[], target: string[]): number {
  let t = 0;
  while (t < target.length && t < source.length && target[t] === source[t]) t++;
  if (t === target.length) {
    expect(t).toBe(source.length);
    return 0;
  }
  // The copy went back to an earlier record and on from there to the end.
  const j = source.indexOf(target[t]);
  expect(j).toBeGreaterThanOrEqual(0);
  expect(j).toBeLessThan(t);
  expect(target.slice(t)).toEqual(source.slice(j));
  return t - j;
}

it('resumes after SIGKILL without loss, in order, duplicates only from the kill', { timeout: 240_000 }, async () => {
  const admin = new Admin({ brokers: [a.bootstrap] });
  await admin.createTopics([{ name: 'events', numPartitions: PARTITIONS }]);
  await admin.close();
  await produce('events', 0, PER_PARTITION);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-mirror-'));
  const configFile = join(dir, 'mirror.properties');
  writeFileSync(
    configFile,
    [
      'clusters = A, B',
      `A.bootstrap.servers = ${a.bootstrap}`,
      `B.bootstrap.servers = ${b.bootstrap}`,
      'A->B.enabled = true',
      'A->B.topics = events',
      'offset.flush.interval.ms = 300',
      // A small in-flight budget: the copy takes long enough to be killed in the middle.
      'producer.buffer.memory = 65536',
      'log.level = warn',
      '',
    ].join('\n'),
  );
  const total = BigInt(PARTITIONS * PER_PARTITION);

  const first = startMirror(configFile);
  await waitFor('part of the copy', async () => (await totalRecords([b.bootstrap], 'A.events')) > total / 5n, 60_000);
  first.child.kill('SIGKILL');
  await first.exited;
  const atKill = await totalRecords([b.bootstrap], 'A.events');
  expect(atKill).toBeLessThan(total);

  const second = startMirror(configFile);
  await waitFor(
    'the copy to complete',
    async () => {
      const ends = await readAll([b.bootstrap], 'A.events');
      const src = await readAll([a.bootstrap], 'events');
      for (let p = 0; p < PARTITIONS; p++) {
        const s = (src.get(p) ?? []).map((r) => String(r.key));
        const t = (ends.get(p) ?? []).map((r) => String(r.key));
        if (t.length < s.length || t[t.length - 1] !== s[s.length - 1]) return false;
      }
      return true;
    },
    120_000,
  );
  const src = await readAll([a.bootstrap], 'events');
  const dst = await readAll([b.bootstrap], 'A.events');
  let dups = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    dups += duplicates(
      (src.get(p) ?? []).map((r) => String(r.key)),
      (dst.get(p) ?? []).map((r) => String(r.key)),
    );
  }
  console.log(`SIGKILL at ${atKill} of ${total} records copied: ${dups} copied twice after the restart`);

  // A SIGTERM stop stores the positions: the next start repeats nothing.
  second.child.kill('SIGTERM');
  expect(await second.exited).toBe(0);
  const before = await totalRecords([b.bootstrap], 'A.events');
  await produce('events', PER_PARTITION, PER_PARTITION + 100);
  const third = startMirror(configFile);
  await waitFor(
    'the new records',
    async () => (await totalRecords([b.bootstrap], 'A.events')) >= before + BigInt(PARTITIONS * 100),
    60_000,
  );
  await new Promise((r) => setTimeout(r, 1000));
  expect(await totalRecords([b.bootstrap], 'A.events')).toBe(before + BigInt(PARTITIONS * 100));
  third.child.kill('SIGTERM');
  expect(await third.exited).toBe(0);
});
