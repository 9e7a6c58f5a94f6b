// Top frames by self time of V8 CPU profiles (node --cpu-prof), e.g. of the Sluice broker under a bench load:
//   npm run bench -w @sluice/benchmarks -- --profile /tmp/prof   (or any broker run with --cpu-prof)
//   npx tsx benchmarks/src/profile-top.ts /tmp/prof [count]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

const target = process.argv[2];
if (!target) throw new Error('usage: profile-top.ts <file.cpuprofile | dir> [count]');
const count = Number(process.argv[3] ?? 25);
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];

const self = new Map<string, number>();
let total = 0;
for (const f of files) {
  const p = JSON.parse(readFileSync(f, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  // Self time per node: the time deltas of the samples that landed on it.
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const n = byId.get(samples[i]);
    if (!n) continue;
    const us = deltas[i] ?? 0;
    const { functionName, url, lineNumber } = n.callFrame;
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(apps|packages|node_modules)\//, '$1/')}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
}
const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, count);
console.log(`${files.length} profile(s), ${(total / 1e6).toFixed(1)} s sampled`);
for (const [k, us] of top)
  console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${k}`);
