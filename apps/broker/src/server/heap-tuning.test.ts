import { describe, expect, it } from 'vitest';
import { tuneHeapGrowth } from './heap-tuning.js';

describe('tuneHeapGrowth', () => {
  it('leaves a growing factor given on the command line or in NODE_OPTIONS, and sets its own once', () => {
    expect(tuneHeapGrowth(['--heap-growing-percent=50'], '')).toBe(false);
    expect(tuneHeapGrowth([], '--max-old-space-size=512 --heap_growing_percent=50')).toBe(false);
    expect(tuneHeapGrowth([], '')).toBe(true);
    expect(tuneHeapGrowth([], '')).toBe(false);
  });
});
