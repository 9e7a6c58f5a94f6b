// V8's old-generation limit for the broker process. The broker's live heap is small (about 10 MiB)
// while every produced byte passes through short-lived Buffers (socket reads, assembled frames)
// that V8 counts against that limit until its next full GC. With V8's own growing factor (about 2×
// on a heap this small) the slack left after a full GC is smaller than the young generation, so
// V8 started incremental marking again right after each one: under 70 MiB/s of Produce a
// Mark-Compact ran every 30-40 ms (27-41 in a 200 MB run, pauses up to 130 ms on a loaded
// machine) while the broker was otherwise idle, and producers waited through each. A larger fixed
// growing factor leaves room for those Buffers to die in scavenges; V8 still never lets the limit
// pass halfway to the heap's maximum.
import { setFlagsFromString } from 'node:v8';

/** Old generation may grow to 5× what the last full GC kept (V8's own factor is 1.1-4). */
export const HEAP_GROWING_PERCENT = 400;

const FLAG = '--heap-growing-percent';
let applied = false;

/**
 * Sets V8's heap growing factor for this process, once, unless the process was started with its
 * own (node's command line or NODE_OPTIONS). Returns whether it set it. The flag is read at each
 * full GC, so setting it after start-up takes effect from the next one.
 */
export function tuneHeapGrowth(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? '',
): boolean {
  if (applied) return false;
  if (execArgv.some((a) => a.startsWith(FLAG) || a.startsWith('--heap_growing_percent'))) return false;
  if (nodeOptions.includes(FLAG) || nodeOptions.includes('--heap_growing_percent')) return false;
  setFlagsFromString(`${FLAG}=${HEAP_GROWING_PERCENT}`);
  applied = true;
  return true;
}
