// `npm start`: runs the broker once it exists (issue #4); until then it says so.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const cli = new URL('../apps/broker/dist/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.log('The Sluice broker is not built yet (apps/broker, issue #4). `npm test` runs the test suite.');
  process.exit(0);
}
const r = spawnSync(process.execPath, [cli.pathname, 'broker', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
