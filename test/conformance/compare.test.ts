import { describe, expect, it } from 'vitest';
import { type AllowList, diff, explain, normalise, staleKnownDifferences } from './compare.js';
import { settled } from './scripts.js';

// The comparison itself: a difference the allow-list does not name, or names with other values, fails.

const ctx = () => ({ nodeId: 1, messages: new Map<string, string>() });

describe('differential comparison', () => {
  it('normalises what legitimately differs and keeps the rest', () => {
    const a = normalise({ throttleTimeMs: 5, leaderId: 1, errorCode: 3, errorMessage: 'x', offset: 7n }, ctx());
    const b = normalise({ throttleTimeMs: 0, leaderId: 1, errorCode: 3, errorMessage: 'y', offset: 7n }, ctx());
    expect(diff(a, b)).toEqual([]);
    const c = normalise({ throttleTimeMs: 0, leaderId: 2, errorCode: 0, errorMessage: null, offset: 8n }, ctx());
    expect(diff(a, c).map((d) => d.path)).toEqual(['leaderId', 'errorCode', 'errorMessage', 'offset']);
  });

  it('keys config entries by name, so order does not matter but a missing entry does', () => {
    const a = normalise(
      {
        configs: [
          { name: 'x', value: '1' },
          { name: 'y', value: '2' },
        ],
      },
      ctx(),
    );
    const b = normalise(
      {
        configs: [
          { name: 'y', value: '2' },
          { name: 'x', value: '1' },
        ],
      },
      ctx(),
    );
    expect(diff(a, b)).toEqual([]);
    const c = normalise({ configs: [{ name: 'y', value: '2' }] }, ctx());
    expect(diff(a, c)).toEqual([{ path: 'configs.x', kafka: { name: 'x', value: '1' }, sluice: undefined }]);
  });

  // A small fixture list, so that the matching is tested whatever the real allow-list holds today.
  const fixture: Pick<AllowList, 'knownDifferences' | 'accepted'> = {
    knownDifferences: [
      {
        case: 'CreateTopics/errors@*',
        path: 'duplicates.length',
        kafka: 1,
        sluice: 2,
        status: 'bug, to fix',
        note: 'fixture',
      },
    ],
    accepted: [
      { case: '*', path: '**.errorMessage', kafka: null, sluice: '<message>', reason: 'fixture' },
      { case: 'Fetch/max-bytes@newest', path: '*.partitions[0].records.length', reason: 'fixture' },
    ],
  };

  it('explains a known difference only with its exact case, path and values', () => {
    const known = { path: 'duplicates.length', kafka: 1, sluice: 2 };
    expect(explain('CreateTopics/errors@old', [known], fixture)).toEqual({
      unexplained: [],
      known: [known],
      accepted: [],
    });
    expect(explain('CreateTopics/errors@newest', [known], fixture).known).toEqual([known]);
    // Same path, another wrong answer: not explained.
    expect(explain('CreateTopics/errors@old', [{ ...known, sluice: 3 }], fixture).unexplained).toHaveLength(1);
    // Another field of the same case: not explained.
    const other = { path: 'exists[0].errorCode', kafka: 'a', sluice: 'b' };
    expect(explain('CreateTopics/errors@old', [other], fixture).unexplained).toEqual([other]);
    // Another case: not explained.
    expect(explain('Produce/acks@old', [known], fixture).unexplained).toEqual([known]);
  });

  it('accepts a difference by case and path globs, with values only when the entry gives them', () => {
    const message = { path: 'responses[0].partitions[1].errorMessage', kafka: null, sluice: '<message>' };
    expect(explain('Produce/acks@old', [message], fixture).accepted).toEqual([message]);
    // `**` needs the path to end in the named field; the values must be the listed ones.
    expect(explain('Produce/acks@old', [{ ...message, path: 'errorMessageX' }], fixture).unexplained).toHaveLength(1);
    expect(explain('Produce/acks@old', [{ ...message, kafka: '' }], fixture).unexplained).toHaveLength(1);
    // No values listed: any values; `*` is one segment, not several.
    const records = { path: 'all.partitions[0].records.length', kafka: 2, sluice: 1 };
    expect(explain('Fetch/max-bytes@newest', [records], fixture).accepted).toEqual([records]);
    expect(explain('Fetch/max-bytes@newest', [{ ...records, kafka: 9 }], fixture).accepted).toHaveLength(1);
    expect(
      explain('Fetch/max-bytes@newest', [{ ...records, path: 'a.b.partitions[0].records.length' }], fixture)
        .unexplained,
    ).toHaveLength(1);
    expect(explain('Fetch/max-bytes@old', [records], fixture).unexplained).toHaveLength(1);
  });

  it('uses the checked-in allow-list by default', () => {
    const d = { path: 'badOperation[0].errorCode', kafka: '-1 UNKNOWN_SERVER_ERROR', sluice: '42 INVALID_REQUEST' };
    expect(explain('IncrementalAlterConfigs/validation@old', [d]).accepted).toEqual([d]);
    expect(
      explain('IncrementalAlterConfigs/validation@old', [d], { knownDifferences: [], accepted: [] }).unexplained,
    ).toEqual([d]);
  });

  it('finds known differences that no longer show in cases that ran', () => {
    const entry = fixture.knownDifferences[0]!;
    const d = { path: 'duplicates.length', kafka: 1, sluice: 2 };
    // Seen in one of the matching cases: not stale.
    expect(
      staleKnownDifferences(fixture.knownDifferences, [
        { case: 'CreateTopics/errors@newest', known: [] },
        { case: 'CreateTopics/errors@old', known: [d] },
      ]),
    ).toEqual([]);
    // Its cases ran without it: stale. Its cases did not run (a filtered run): not judged.
    expect(staleKnownDifferences(fixture.knownDifferences, [{ case: 'CreateTopics/errors@old', known: [] }])).toEqual([
      entry,
    ]);
    expect(staleKnownDifferences(fixture.knownDifferences, [{ case: 'Produce/acks@old', known: [d] }])).toEqual([]);
  });
});

describe('settled', () => {
  it('reads until the answer holds still, so a read that lags a change is not the one compared', async () => {
    // Kafka right after an AlterConfigs: the first reads still show the old value.
    const answers = ['old', 'old', 'new', 'new', 'new', 'new'];
    let reads = 0;
    const value = await settled(async () => answers[Math.min(reads++, answers.length - 1)]);
    expect(value).toBe('new');
    expect(reads).toBe(5);
  });

  it('gives up after maxReads with the last answer', async () => {
    let reads = 0;
    expect(await settled(async () => reads++, 3, 4)).toBe(3);
    expect(reads).toBe(4);
  });
});
