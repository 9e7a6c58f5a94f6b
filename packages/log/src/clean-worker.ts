// Entry of the cleaner's worker thread: runs one compaction pass (clean-pass.ts) for the job it is
// started with and posts its progress to the main thread (cleaner.ts), errors included.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { type CleanJob, type CleanMessage, runCleanPass } from './clean-pass.js';

const port = parentPort;
if (port !== null) {
  const emit = (m: CleanMessage): void => port.postMessage(m);
  runCleanPass(workerData as CleanJob, threadId, emit).catch((e: unknown) => {
    const err = e instanceof Error ? e : new Error(String(e));
    emit({ type: 'error', name: err.name, message: err.message });
  });
}
