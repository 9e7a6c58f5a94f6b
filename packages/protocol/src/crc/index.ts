import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { type CrcFunction, crc32cTable, crc32Table } from './table-crc.js';

export { type CrcFunction, crc32cTable, crc32Table } from './table-crc.js';

type NativeCrc = (input: Uint8Array, initialState?: number | null) => number;

function loadNativeCrc32c(): NativeCrc | undefined {
  try {
    // A native addon can fail to load (missing platform package, other libc); the table
    // implementation then takes over, slower but identical.
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: NativeCrc };
    return typeof mod.crc32c === 'function' ? mod.crc32c : undefined;
  } catch {
    return undefined;
  }
}

const nativeCrc32c = loadNativeCrc32c();
// node:zlib has crc32 since Node 20.15 / 22.2.
const zlibCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** Which implementations are in use, for diagnostics and benchmarks. */
export const CRC_IMPLEMENTATION = {
  crc32c: nativeCrc32c ? '@node-rs/crc32' : 'table',
  crc32: typeof zlibCrc32 === 'function' ? 'node:zlib' : 'table',
} as const;

/**
 * CRC-32C (Castagnoli) of `data`, as RecordBatch v2 uses it. Pass a previous result as
 * `previous` to continue over more data: crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export const crc32c: CrcFunction = nativeCrc32c
  ? (data: Uint8Array, previous = 0) => nativeCrc32c(data, previous)
  : crc32cTable;

/** CRC-32 (IEEE), as legacy message sets (magic 0 and 1) use it. Same chaining as crc32c. */
export const crc32: CrcFunction =
  typeof zlibCrc32 === 'function' ? (data: Uint8Array, previous = 0) => zlibCrc32(data, previous) : crc32Table;
