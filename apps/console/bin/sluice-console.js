#!/usr/bin/env node
// The `sluice-console` command (also reached as `sluice console`): starts the built console.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/index.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(`sluice-console: ${fileURLToPath(entry)} is not built yet: run \`npm run build\` first\n`);
  process.exit(1);
}
const { runConsoleCommand } = await import(entry.href);
const code = await runConsoleCommand(process.argv.slice(2));
if (code !== null) process.exit(code);
