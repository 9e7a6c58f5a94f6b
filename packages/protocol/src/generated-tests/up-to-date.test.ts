import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { generateAll, OUTPUT_DIR, schemaDir } from '../../scripts/generate.js';

const haveSchemas = existsSync(schemaDir());

it.skipIf(!haveSchemas)(
  haveSchemas
    ? 'src/generated is what scripts/generate.ts makes from the schemas (run `npm run generate -w @sluice/protocol` if not)'
    : `src/generated up-to-date check SKIPPED: the schemas (${schemaDir()}) are absent`,
  () => {
    const expected = generateAll();
    const onDisk = readdirSync(OUTPUT_DIR).filter((f) => f.endsWith('.ts'));
    expect(onDisk.sort()).toEqual(Object.keys(expected).sort());
    const stale = onDisk.filter((f) => readFileSync(join(OUTPUT_DIR, f), 'utf8') !== expected[f]);
    expect(stale).toEqual([]);
  },
);
