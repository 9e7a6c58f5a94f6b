import { defineConfig } from 'vitest/config';

// The fault-injection suite (`npm run test:chaos`): broker processes on their own etcd, killed,
// paused and cut off for minutes, so it stays out of `npm test`. CHAOS_DURATION_S sets the length
// of the randomized run (default 120 s); the hook and test timeouts follow it.
const durationS = Number(process.env.CHAOS_DURATION_S ?? 120);
const budgetMs = (Number.isFinite(durationS) && durationS > 0 ? durationS : 120) * 1000 + 600_000;

export default defineConfig({
  resolve: { conditions: ['sluice-source'] },
  ssr: { resolve: { conditions: ['sluice-source'] } },
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: budgetMs,
    hookTimeout: 180_000,
    pool: 'forks',
    // One cluster at a time: each file starts three brokers and three etcd members.
    fileParallelism: false,
  },
});
