// Compaction through the broker, as a client sees it: after the broker's own maintenance has cleaned a
// compacted topic, every surviving key is there once with its latest value and tombstoned keys are gone
// (issue 20, "keep what works"; the cleaner's rules are unit-tested in packages/log/src/cleaner.test.ts).

import { buildRecordBatchSync, CreateTopicsApi, ProduceApi, type RecordInput, ZERO_UUID } from '@sluice/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningBroker } from '../src/index.js';
import {
  type BrokerProcess,
  type ConsumedRecord,
  RawClient,
  readPartition,
  sleep,
  spawnBroker,
  startInProcess,
} from './helpers.js';

const KiB = 1024;
const KEYS = 500;
const TOMBSTONED = 100; // keys 0..99 end with a tombstone

async function createCompactedTopic(raw: RawClient): Promise<void> {
  const res = await raw.send(CreateTopicsApi, 5, {
    topics: [
      {
        name: 'compacted',
        numPartitions: 1,
        replicationFactor: 1,
        assignments: [],
        configs: [
          { name: 'cleanup.policy', value: 'compact' },
          { name: 'segment.bytes', value: String(1024 * KiB) },
          { name: 'delete.retention.ms', value: '0' },
          { name: 'min.cleanable.dirty.ratio', value: '0.01' },
        ],
      },
    ],
    timeoutMs: 5000,
    validateOnly: false,
  });
  expect(res.topics[0].errorCode).toBe(0);
}

async function produce(raw: RawClient, records: RecordInput[]): Promise<void> {
  const res = await raw.send(ProduceApi, 9, {
    transactionalId: null,
    acks: -1,
    timeoutMs: 5000,
    topicData: [
      {
        name: 'compacted',
        topicId: ZERO_UUID,
        partitionData: [{ index: 0, records: buildRecordBatchSync({ records }) }],
      },
    ],
  });
  expect(res.responses[0].partitionResponses[0].errorCode).toBe(0);
}

const key = (k: number) => `key-${k}`;
const valueFor = (round: number, k: number, size: number) => Buffer.alloc(size, `r${round}k${k};`);

/** Keys with every value read for them, in offset order (the filler that rolls the last segment aside). */
function byKey(records: ConsumedRecord[]): Map<string, Array<Buffer | null>> {
  const out = new Map<string, Array<Buffer | null>>();
  for (const r of records) {
    const k = r.key?.toString() ?? '';
    if (k === 'filler') continue;
    out.set(k, [...(out.get(k) ?? []), r.value]);
  }
  return out;
}

// In process (from source), and the built dist/cli.js: there the cleaner's worker runs from the
// clean-worker.js the bundle script emits beside cli.js.
describe.each(['in process', 'built'] as const)('compaction through the broker (%s)', (target) => {
  let broker: RunningBroker | undefined;
  let spawned: BrokerProcess | undefined;
  let raw: RawClient;

  beforeAll(async () => {
    let port: number;
    if (target === 'built') {
      spawned = await spawnBroker({ built: true });
      port = spawned.port;
    } else {
      broker = await startInProcess();
      port = broker.port;
    }
    raw = await RawClient.connect(port);
    await createCompactedTopic(raw);
  });

  afterAll(async () => {
    raw?.close();
    await broker?.stop();
    await spawned?.kill();
  });

  it('leaves every surviving key once with its latest value and no trace of tombstoned keys', async () => {
    // Three rounds of overwrites of 1 KiB, tombstones for the first 100 keys, a last round of 3 KiB
    // values for the rest, then two large filler records that push the last round out of the active
    // segment (which is never cleaned). 1 MiB segments: several of them to clean.
    for (let round = 1; round <= 3; round++)
      await produce(
        raw,
        Array.from({ length: KEYS }, (_, k) => ({ key: key(k), value: valueFor(round, k, KiB) })),
      );
    await produce(
      raw,
      Array.from({ length: TOMBSTONED }, (_, k) => ({ key: key(k), value: null })),
    );
    for (let from = TOMBSTONED; from < KEYS; from += 200)
      await produce(
        raw,
        Array.from({ length: Math.min(200, KEYS - from) }, (_, i) => ({
          key: key(from + i),
          value: valueFor(4, from + i, 3 * KiB),
        })),
      );
    for (let i = 0; i < 2; i++) await produce(raw, [{ key: 'filler', value: Buffer.alloc(600 * KiB, 'f') }]);
    const before = await readPartition(raw, 'compacted', 0);
    expect(before.length).toBe(3 * KEYS + TOMBSTONED + (KEYS - TOMBSTONED) + 2);

    // The broker's maintenance (every 5 s) cleans it; poll, bounded, until the log reads compacted.
    let keys = byKey(before);
    for (let i = 0; i < 60 && [...keys.values()].some((vs) => vs.length !== 1 || vs[0] === null); i++) {
      await sleep(500);
      keys = byKey(await readPartition(raw, 'compacted', 0));
    }
    expect([...keys.keys()].sort()).toEqual(
      Array.from({ length: KEYS - TOMBSTONED }, (_, i) => key(TOMBSTONED + i)).sort(),
    );
    for (let k = TOMBSTONED; k < KEYS; k++) {
      const vs = keys.get(key(k)) ?? [];
      expect(vs.length, key(k)).toBe(1);
      expect(vs[0]?.equals(valueFor(4, k, 3 * KiB)), key(k)).toBe(true);
    }
    if (spawned !== undefined) {
      // The line comes once the pass has ended, which may be after its last swap was read above.
      for (let i = 0; i < 100 && !/compacted-0: compacted \d+ segment/.test(spawned.output()); i++) await sleep(100);
      expect(spawned.output()).toMatch(/compacted-0: compacted \d+ segment/);
      expect(spawned.output()).not.toMatch(/compaction failed/);
    }
  });
});
