// Child process for the crash test: appends deterministic batches forever under a flush policy
// and prints `F <recovery point>` whenever a flush made offsets durable. Killed with SIGKILL.
import { LogManager } from './log-manager.js';
import { expectedBatch } from './test-crash-batches.js';

// Started ahead of time by the test; waits for `<flushMessages>\n` on stdin before opening the log,
// so that process start-up overlaps the previous round.
const [dataDir, io] = process.argv.slice(2);
const flushMessages = await new Promise<string>((resolve) => {
  let line = '';
  process.stdin.on('data', (d: Buffer) => {
    line += d.toString();
    if (line.includes('\n')) resolve(line.trim());
  });
});
process.stdin.pause();
const quiet = { info() {}, warn() {}, error() {} };
const manager = LogManager.open(dataDir, {
  io: io as 'fd' | 'mmap',
  flushMessages: Number(flushMessages),
  segmentBytes: 48 * 1024,
  segmentIndexBytes: 1024,
  indexIntervalBytes: 1024,
  logger: quiet,
});
const log = manager.getOrCreate('crash', 0);
process.stdout.write(`R ${log.logEndOffset}\n`);
let flushed = log.recoveryPoint;
// Runs until killed; the bound only guards against a test that forgets to kill it.
for (let i = 0; i < 10_000_000; i++) {
  log.append(expectedBatch(log.logEndOffset));
  if (log.recoveryPoint !== flushed) {
    flushed = log.recoveryPoint;
    process.stdout.write(`F ${flushed}\n`);
  }
  if (i % 50 === 0) manager.checkpoint();
}
