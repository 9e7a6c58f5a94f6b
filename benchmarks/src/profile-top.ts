// Top frames by self time of V8 CPU profiles (node --cpu-prof), e.g. of the Sluice broker under a bench load:
//   npm run bench -w @sluice/benchmarks -- --profile /tmp/prof   (or any broker run with --cpu-prof)
//   npx tsx benchmarks/src/profile-top.ts /tmp/prof [count]
import { summarizeProfiles } from './profile-summary.js';

const target = process.argv[2];
if (!target) throw new Error('usage: profile-top.ts <file.cpuprofile | dir> [count]');
const s = summarizeProfiles(target, Number(process.argv[3] ?? 25));
console.log(
  `${s.files} profile(s), ${(s.totalUs / 1e6).toFixed(1)} s sampled, GC ${((s.gcUs / Math.max(1, s.totalUs)) * 100).toFixed(1)}%`,
);
for (const { frame, us } of s.top)
  console.log(`${((us / s.totalUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${frame}`);
