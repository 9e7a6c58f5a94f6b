import { defineConfig } from 'vitest/config';

// Conformance tests run against a real Apache Kafka broker (needs java + mvn), so they stay out of
// `npm test` and run with `npm run test:conformance`. Timeouts cover a cold Maven resolve and JVM start-up.
export default defineConfig({
  // Workspace packages from their TypeScript sources (the `sluice-source` export condition), never from a
  // possibly stale dist/: vitest runs test files through its SSR pipeline, which needs its own conditions.
  resolve: { conditions: ['sluice-source'] },
  ssr: { resolve: { conditions: ['sluice-source'] } },
  test: {
    include: ['test/conformance/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One reference broker at a time: the machine is small and each JVM holds ~350 MB.
    fileParallelism: false,
  },
});
