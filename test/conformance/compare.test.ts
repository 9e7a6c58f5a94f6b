import { describe, expect, it } from 'vitest';
import { diff, explain, normalise } from './compare.js';

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

  it('explains a known difference only with its exact path and values', () => {
    const known = { path: 'duplicates.length', kafka: 1, sluice: 2 };
    expect(explain('CreateTopics/errors@old', [known]).unexplained).toEqual([]);
    // Same path, another wrong answer: not explained.
    expect(explain('CreateTopics/errors@old', [{ ...known, sluice: 3 }]).unexplained).toHaveLength(1);
    // Another field of the same case: not explained.
    expect(
      explain('CreateTopics/errors@old', [{ path: 'exists[0].errorCode', kafka: 'a', sluice: 'b' }]).unexplained,
    ).toHaveLength(1);
    // Another case: not explained.
    expect(explain('Produce/acks@old', [known]).unexplained).toHaveLength(1);
  });
});
