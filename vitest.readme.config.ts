import { defineConfig } from 'vitest/config';

// The README's quick start in a fresh clone (npm install, a cold build, every example): a minute or
// two, so it stays out of `npm test` and runs with `npm run test:readme` (and in .ci/run).
export default defineConfig({
  test: {
    include: ['test/readme/quick-start.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    pool: 'forks',
  },
});
