import { describe, expect, it } from 'vitest';
import { sumMetrics } from './metrics.js';

describe('sumMetrics', () => {
  it('sums every labelled sample of the named metrics and ignores the rest', () => {
    const text = [
      '# HELP sluice_bytes_in_total Record batch bytes appended, by topic',
      '# TYPE sluice_bytes_in_total counter',
      'sluice_bytes_in_total{topic="a"} 100',
      'sluice_bytes_in_total{topic="b,c} 9"} 23.5',
      'sluice_bytes_in_totally 7',
      'sluice_requests_total{api="Produce",version="11"} 4 1700000000000',
      'sluice_requests_total 1',
      'other_metric 99',
      'sluice_bytes_out_total{topic="a"} NaN',
    ].join('\n');
    const sums = sumMetrics(text, ['sluice_bytes_in_total', 'sluice_requests_total', 'sluice_bytes_out_total']);
    expect(sums.get('sluice_bytes_in_total')).toBe(123.5);
    expect(sums.get('sluice_requests_total')).toBe(5);
    expect(sums.has('sluice_bytes_out_total')).toBe(false);
  });
});
