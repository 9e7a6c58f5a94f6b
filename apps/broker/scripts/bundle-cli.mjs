// Replaces tsc's dist/cli.js with one bundled file (after tsc, in `npm run build`): start-up
// otherwise spends most of its time resolving and loading ~360 modules (the generated codec,
// commander, pino), 0.40 s against 0.23 s measured here. The library entry (dist/index.js) stays
// tsc's output. Native addons are loaded through createRequire at run time, so they stay outside
// the bundle and resolve from node_modules as before. @sluice/* come from their built dist.
// The log cleaner's worker thread has its own entry, bundled too and emitted beside cli.js as
// clean-worker.js, where @sluice/log's cleaner looks for it (new URL('./clean-worker.js', import.meta.url)).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const logDist = path.dirname(createRequire(import.meta.url).resolve('@sluice/log'));

await build({
  absWorkingDir: pkgDir,
  entryPoints: { cli: 'src/cli.ts', 'clean-worker': path.join(logDist, 'clean-worker.js') },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  logLevel: 'warning',
  // etcd3 (through @sluice/cluster) reads its .proto files next to its own modules (__dirname).
  external: ['etcd3'],
  // CommonJS dependencies (pino, commander, prom-client) call require() for Node's modules.
  banner: {
    js: "import { createRequire as __sluiceCreateRequire } from 'node:module';\nconst require = __sluiceCreateRequire(import.meta.url);",
  },
});
