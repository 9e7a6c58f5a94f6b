// Replaces tsc's dist/cli.js with the bundled command line (after tsc, in `npm run build`): start-up
// otherwise spends most of its time resolving and loading ~360 modules (the generated codec,
// commander, pino), 0.40 s against 0.23 s measured here. The library entry (dist/index.js) stays
// tsc's output. Native addons are loaded through createRequire at run time, so they stay outside
// the bundle and resolve from node_modules as before. @sluice/* come from their built dist.
//
// The bundle is dist/cli-bundle.cjs (CommonJS, so that it can be compiled through vm.Script with
// V8's code cache); dist/cli.js is scripts/cli-entry.mjs, which compiles it with the cache that this
// script makes by one warm-up start and stop of a broker (see cli-entry.mjs).
// The log cleaner's worker thread has its own entry, bundled too and emitted beside cli.js as
// clean-worker.js, where @sluice/log's cleaner looks for it (new URL('./clean-worker.js', import.meta.url)).
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import { build } from 'esbuild';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(pkgDir, 'dist');
const logDist = path.dirname(createRequire(import.meta.url).resolve('@sluice/log'));
const common = { absWorkingDir: pkgDir, bundle: true, platform: 'node', target: 'node20', logLevel: 'warning' };

await build({
  ...common,
  entryPoints: { 'cli-bundle': 'src/cli.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  sourcemap: 'linked',
  // etcd3 (through @sluice/cluster) reads its .proto files next to its own modules (__dirname).
  external: ['etcd3'],
  // import() of a bundled module or of etcd3 becomes require(): a vm.Script has no dynamic import.
  supported: { 'dynamic-import': false },
  // The sources are ES modules; import.meta.url is the bundle's own file URL (dist/cli-bundle.cjs,
  // beside clean-worker.js, one level under package.json, as dist/cli.js was).
  define: { 'import.meta.url': '__sluiceBundleUrl' },
  // Strict like the ES modules it is made of (esbuild's own "use strict" would come after the banner).
  banner: { js: "'use strict';\nconst __sluiceBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
await build({
  ...common,
  entryPoints: { 'clean-worker': path.join(logDist, 'clean-worker.js') },
  outdir: 'dist',
  format: 'esm',
  sourcemap: 'linked',
  // CommonJS dependencies call require() for Node's modules.
  banner: {
    js: "import { createRequire as __sluiceCreateRequire } from 'node:module';\nconst require = __sluiceCreateRequire(import.meta.url);",
  },
});
// src/cli.ts's hashbang would be a syntax error inside Module.wrap()'s function; a comment in its
// place keeps the lines where the source map has them.
// Non-ASCII characters (esbuild escapes them in strings; these are in comments) become \u escapes:
// an ASCII file decodes as latin1 into a one-byte string, half the memory of a two-byte one and
// no UTF-8 decoding at start-up.
const bundleFile = path.join(dist, 'cli-bundle.cjs');
const bundled = readFileSync(bundleFile, 'utf8')
  .replace(/^#!.*/, '// (hashbang)')
  .replace(/[^\p{ASCII}]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
writeFileSync(bundleFile, bundled);
copyFileSync(path.join(pkgDir, 'scripts/cli-entry.mjs'), path.join(dist, 'cli.js'));
// Executable, as esbuild left the bundled dist/cli.js (it starts with a hashbang).
chmodSync(path.join(dist, 'cli.js'), 0o755);
rmSync(path.join(dist, 'cli.js.map'), { force: true });
await makeCodeCache();

/**
 * Starts a broker from the new dist/cli.js on a scratch data dir and port 0 until it listens, stops
 * it, and checks that V8 takes the code cache it wrote at exit. Without a cache the command line
 * works as well, only starts slower: a failure here is a warning, not a failed build.
 */
async function makeCodeCache() {
  const cacheFile = path.join(dist, 'cli-bundle.cjs.cache');
  rmSync(cacheFile, { force: true });
  const scratch = mkdtempSync(path.join(tmpdir(), 'sluice-code-cache-'));
  try {
    await warmUp(path.join(scratch, 'data'));
    const bytes = readFileSync(path.join(dist, 'cli-bundle.cjs'));
    const cache = readFileSync(cacheFile);
    const script = new Script(Module.wrap(bytes.toString('latin1')), {
      filename: path.join(dist, 'cli-bundle.cjs'),
      cachedData: cache.subarray(32),
    });
    if (script.cachedDataRejected !== false) throw new Error('V8 rejected the code cache it just made');
  } catch (e) {
    rmSync(cacheFile, { force: true });
    console.warn(`bundle-cli: no code cache for dist/cli.js (start-up compiles from source): ${e.message}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function warmUp(dataDir) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(dist, 'cli.js'), 'broker', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info', SLUICE_WRITE_CODE_CACHE: '1' } },
    );
    let out = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d) => {
      out = (out + d).slice(-10_000);
      if (out.includes('"msg":"listening"')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d) => {
      out = (out + d).slice(-10_000);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`warm-up broker exited with ${code ?? signal}: ${out.slice(-2000)}`));
    });
  });
}
