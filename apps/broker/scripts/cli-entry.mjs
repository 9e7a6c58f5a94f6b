#!/usr/bin/env node
// dist/cli.js, the `sluice` entry (copied there by bundle-cli.mjs): compiles the one bundled file,
// dist/cli-bundle.cjs, with V8's code cache that the build made (dist/cli-bundle.cjs.cache), and
// runs it. Node 20 keeps no compile cache for modules of its own (module.enableCompileCache is
// Node 22), and compiling the ~3 MB bundle from source is a large part of start-up. The cache is
// only an optimisation: a missing one, one from another bundle (its first 32 bytes are the bundle's
// SHA-256) or one V8 rejects (another Node version or V8 flags) means compiling from source.
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';

const bundle = fileURLToPath(new URL('./cli-bundle.cjs', import.meta.url));
const cacheFile = `${bundle}.cache`;
const bytes = readFileSync(bundle);
const digest = createHash('sha256').update(bytes).digest();

let cachedData;
try {
  const file = readFileSync(cacheFile);
  if (file.length > digest.length && file.subarray(0, digest.length).equals(digest)) {
    cachedData = file.subarray(digest.length);
  }
} catch {}

// A vm.Script has no import() on Node 20 (without --experimental-vm-modules): lend this module's
// to the bundle for the packages it loads by name at run time (src/import-outside-bundle.ts).
globalThis[Symbol.for('sluice.cli.import')] = (specifier) => import(specifier);
// The build leaves the bundle pure ASCII: latin1 makes a one-byte string without decoding.
const script = new Script(Module.wrap(bytes.toString('latin1')), { filename: bundle, cachedData });
const cjs = { exports: {} };
script.runInThisContext()(cjs.exports, createRequire(bundle), cjs, bundle, path.dirname(bundle));

// The build's warm-up run (bundle-cli.mjs): at exit, after a start-up and a stop, the cache holds
// every function those compiled too, not only the bundle's top level.
if (process.env.SLUICE_WRITE_CODE_CACHE === '1') {
  process.once('exit', () => {
    // The broker command raises this V8 flag (heap-tuning.ts); V8 rejects a cache made under other
    // flags than a fresh process has, so put it back to its default before making the cache.
    setFlagsFromString('--heap-growing-percent=0');
    writeFileSync(`${cacheFile}.tmp`, Buffer.concat([digest, script.createCachedData()]));
    renameSync(`${cacheFile}.tmp`, cacheFile);
  });
}

/** Whether V8 compiled the bundle from the build's cache ('used'), refused it, or had none. */
export const codeCache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
export const { main, buildProgram, configFromOptions, etcdEndpointsOf, versionText } = cjs.exports;

// Run as a program (node dist/cli.js …), not imported (bin/sluice.js imports it and calls main).
if (isEntry(process.argv[1])) main(process.argv);

function isEntry(argv1) {
  if (argv1 === undefined) return false;
  try {
    return realpathSync(argv1) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
