// The README's example is test/readme-example.ts, which typecheck compiles: the two must not drift apart.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';

it('the README example is test/readme-example.ts', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = /<!-- readme-test: wordcount\.ts; npx tsx wordcount\.ts -->\n```ts\n([\s\S]*?)```/.exec(readme);
  expect(block?.[1]).toBe(readFileSync(new URL('./readme-example.ts', import.meta.url), 'utf8'));
});
