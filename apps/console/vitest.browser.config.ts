import { defineConfig } from 'vitest/config';

// The console in a real Chromium (Debian's `chromium`, driven by playwright-core): kept out of
// `npm test` (apps/*/test) because it needs the browser; `npm run test:browser -w @sluice/console`.
export default defineConfig({
  resolve: { conditions: ['sluice-source'] },
  ssr: { resolve: { conditions: ['sluice-source'] } },
  test: {
    include: ['browser/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
