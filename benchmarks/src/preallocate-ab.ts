// The raw-protocol produce ceiling of one Sluice broker with log.preallocate off and on, alternating
// (off, on, off, on, …) on fresh brokers, medians; the broker's CPU per GiB beside each rate.
//   npm run build && npx tsx --conditions=sluice-source benchmarks/src/preallocate-ab.ts [rounds] [MiB] [size] [partitions]
// (defaults: 5 rounds, 128 MiB per load, 1 KiB records, 6 partitions, acks=1, as the ceiling phase's row).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka } from '@sluice/client';
import { SluiceBroker } from './brokers.js';
import { rawProtocol } from './generators.js';
import { freePorts } from './ports.js';
import { cpuSeconds } from './proc.js';

const rounds = Number(process.argv[2] ?? 5);
const mib = Number(process.argv[3] ?? 128);
const size = Number(process.argv[4] ?? 1024);
const partitions = Number(process.argv[5] ?? 6);
const work = mkdtempSync(join(tmpdir(), 'sluice-prealloc-ab-'));
const results: Record<'off' | 'on', { rate: number; cpuPerGiB: number }[]> = { off: [], on: [] };

for (let r = 0; r < rounds; r++) {
  for (const mode of ['off', 'on'] as const) {
    const [port] = await freePorts(1);
    const b = new SluiceBroker(port);
    const dir = join(work, `${mode}-${r}`);
    try {
      await b.start(dir, { 'log.preallocate': mode === 'on' ? 'true' : 'false' });
      const admin = new Kafka({ brokers: [`127.0.0.1:${port}`] }).admin();
      await admin.createTopics([{ name: 'ab', numPartitions: partitions, replicationFactor: 1 }]);
      await admin.close();
      const cpu0 = cpuSeconds(b.pid()) ?? 0;
      const m = await rawProtocol({ mode: 'produce', port, topic: 'ab', partitions, size, bytes: mib * 2 ** 20 });
      const cpu = (cpuSeconds(b.pid()) ?? cpu0) - cpu0;
      const cpuPerGiB = cpu / ((m.records * size) / 2 ** 30);
      results[mode].push({ rate: m.recordsPerSec, cpuPerGiB });
      process.stderr.write(
        `round ${r + 1} preallocate ${mode}: ${Math.round(m.recordsPerSec).toLocaleString('en-US')} rec/s, ${m.mibPerSec.toFixed(1)} MiB/s, broker ${cpuPerGiB.toFixed(2)} CPU s/GiB\n`,
      );
    } finally {
      await b.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
rmSync(work, { recursive: true, force: true });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const fmt = (mode: 'off' | 'on') => {
  const rates = results[mode].map((x) => x.rate);
  return `${Math.round(median(rates)).toLocaleString('en-US')} rec/s (${Math.round(Math.min(...rates)).toLocaleString('en-US')}–${Math.round(Math.max(...rates)).toLocaleString('en-US')}), ${median(results[mode].map((x) => x.cpuPerGiB)).toFixed(2)} CPU s/GiB`;
};
console.log(
  `raw-protocol produce, ${size} B records, ${partitions} partitions, acks=1, ${mib} MiB per load, ${rounds} rounds`,
);
console.log(`preallocate off: ${fmt('off')}`);
console.log(`preallocate on:  ${fmt('on')}`);
console.log(
  `on/off: ${(median(results.on.map((x) => x.rate)) / median(results.off.map((x) => x.rate))).toFixed(2)}× records/s`,
);
process.exit(0);
