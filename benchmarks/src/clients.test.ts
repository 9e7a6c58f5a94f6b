import { describe, expect, it } from 'vitest';
import { type ClientsResult, clientCases, clientsMarkdown, clientsMissing } from './clients.js';

const row = (records: number, seconds: number) => ({ records, seconds, clientCpuSec: seconds / 2, brokerCpuSec: 0.1 });

describe('clients section', () => {
  const cases = clientCases(true);
  const result = (): ClientsResult => ({
    cases,
    clients: ['@sluice/client', 'kafkajs'],
    results: Object.fromEntries(
      cases.map((c) => [c.id, { '@sluice/client': [row(10_000, 1), row(10_000, 2)], kafkajs: [row(10_000, 5)] }]),
    ),
    notes: [],
  });

  it('names every case and client without numbers, for the smoke check', () => {
    const r = result();
    expect(clientsMissing(r)).toEqual([]);
    r.results[cases[0].id].kafkajs = [];
    expect(clientsMissing(r)).toEqual([`${cases[0].label} [kafkajs]`]);
  });

  it('gives the ratio of medians against each client with the goal and whether it is met', () => {
    const md = clientsMarkdown(result());
    // Median of 10,000 and 5,000 rec/s is 7,500, against kafkajs's 2,000.
    expect(md).toMatch(/\| kafkajs \| 2,000 \|.*\| 3\.75× \(≥ 5×: not met\) \|/);
    expect(md).toMatch(/\| @sluice\/client \| 7,500 \|/);
    const r = result();
    for (const c of cases) r.results[c.id]['@sluice/client'] = [row(10_000, 0.5)];
    expect(clientsMarkdown(r)).toMatch(/10\.00× \(≥ 5×: met\)/);
  });
});
