import { startBroker } from '@sluice/broker';
import { Reader } from '@sluice/protocol';
import { describe, expect, it } from 'vitest';

// The suite must exercise the code in the tree, not a stale build: vitest.conformance.config.ts resolves
// workspace packages through their `sluice-source` export condition. The call sites of an error name the
// files that ran (raw V8 call sites: a formatted stack would be source-mapped from dist/ back to src/).

async function filesOf(f: () => unknown): Promise<string> {
  const previous = Error.prepareStackTrace;
  Error.prepareStackTrace = (_e, sites) => sites.map((s) => s.getFileName() ?? '').join('\n');
  try {
    await f();
  } catch (e) {
    return String((e as Error).stack);
  } finally {
    Error.prepareStackTrace = previous;
  }
  throw new Error('expected an error');
}

describe('workspace packages', () => {
  it('run from their TypeScript sources, not dist/', async () => {
    const protocol = await filesOf(() => new Reader(Buffer.alloc(0)).int32());
    expect(protocol).toMatch(/packages\/protocol\/src\/[\w/-]+\.ts/);
    expect(protocol).not.toMatch(/packages\/protocol\/dist\//);
    const broker = await filesOf(() => startBroker({ props: { 'node.id': 'not a number' } }));
    expect(broker).toMatch(/apps\/broker\/src\/[\w/-]+\.ts/);
    expect(broker).not.toMatch(/apps\/broker\/dist\//);
  });
});
