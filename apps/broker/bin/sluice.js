#!/usr/bin/env node
// The `sluice` command as npm links it (node_modules/.bin/sluice). This file is committed with its
// execute bit, so `npm install` links it on a fresh clone before anything is built, and a rebuild
// of dist/ never takes the bit away; it only starts the built command line.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write(
    `sluice: ${fileURLToPath(cli)} is not built yet: run \`npm run build\` (or \`npm start\`) first\n`,
  );
  process.exit(1);
}
const { main } = await import(cli.href);
main(process.argv);
