import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { generateAll, OUTPUT_DIR } from '../../scripts/generate.js';

// The schemas are vendored in the package (schemas/message), so this check always runs.
it('src/generated is what scripts/generate.ts makes from the schemas (run `npm run generate -w @sluice/protocol` if not)', () => {
  const expected = generateAll();
  const onDisk = readdirSync(OUTPUT_DIR).filter((f) => f.endsWith('.ts'));
  expect(onDisk.sort()).toEqual(Object.keys(expected).sort());
  const stale = onDisk.filter((f) => readFileSync(join(OUTPUT_DIR, f), 'utf8') !== expected[f]);
  expect(stale).toEqual([]);
});
