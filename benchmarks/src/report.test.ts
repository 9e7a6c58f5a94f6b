import { describe, expect, it } from 'vitest';
import { clusterTable, markdownTable, type Report, type Row, rowsWithoutNumbers } from './report.js';

const row = (id: string, kind: Row['kind'], sluice: number[], kafka: number[], extra: Partial<Row> = {}): Row => ({
  id,
  kind,
  label: id,
  unit: 'CPU s/GiB',
  higherIsBetter: false,
  sluice,
  kafka,
  details: { sluice: [], kafka: [] },
  ...extra,
});

const report = (rows: Row[]): Report => ({
  startedAt: '2026-01-01T00:00:00.000Z',
  seconds: 1,
  quick: true,
  trials: 3,
  machine: {},
  load: { before: [0, 0, 0], after: [0, 0, 0], uptime: '' },
  limits: {},
  rows,
  errors: [],
  notes: [],
});

describe('cluster rows', () => {
  const rows = [
    row('cost-cpu-produce', 'cost', [10], [20]),
    row('cluster/single/cpu', 'cluster', [10, 12, 8], []),
    row('cluster/rf3/cpu', 'cluster', [60, 50, 70], [], { baseline: 'cluster/single/cpu' }),
  ];

  it('sit in their own table, compared with their one-broker row, not in the Sluice/Kafka table', () => {
    const table = clusterTable(report(rows))!;
    expect(table).toContain('| cluster/rf3/cpu |  | 60.0 (50.0–70.0) CPU s/GiB | 6.00× |');
    expect(table).toContain('| cluster/single/cpu |  | 10.0 (8.00–12.0) CPU s/GiB | – |');
    const main = markdownTable(report(rows));
    expect(main.split('\n\n')[0]).not.toContain('cluster/');
    expect(main).toContain(table);
    expect(clusterTable(report(rows.slice(0, 1)))).toBeUndefined();
  });

  it('need only Sluice numbers to pass the smoke check', () => {
    expect(rowsWithoutNumbers(rows)).toEqual([]);
    const failed = [row('cluster/rf1/cpu', 'cluster', [Number.NaN], []), row('cost-rss-peak', 'cost', [1], [])];
    expect(rowsWithoutNumbers([...rows, ...failed]).map((r) => r.id)).toEqual(['cluster/rf1/cpu', 'cost-rss-peak']);
  });
});
