// Entry of the cleaner's worker thread: runs the compaction passes (clean-pass.ts) the main thread
// (cleaner.ts) sends it and posts their progress back, each message tagged with its pass's id.
// One worker serves every pass of the process, so its start-up is paid once.
import { parentPort, threadId } from 'node:worker_threads';
import { type CleanJob, type CleanMessage, runCleanPass } from './clean-pass.js';

/** What the main thread sends: start a pass, or cancel one. */
export type CleanRequest =
  | { type: 'run'; id: number; job: CleanJob }
  /** The group last reported was swapped in (or skipped): the pass may go on. */
  | { type: 'swapped'; id: number }
  | { type: 'cancel'; id: number };

const port = parentPort;
if (port !== null) {
  const cancelled = new Set<number>();
  const running = new Set<number>();
  /** Passes waiting for their last group's swap, by id. */
  const waiting = new Map<number, () => void>();
  port.on('message', (req: CleanRequest) => {
    if (req.type !== 'run') {
      if (req.type === 'cancel' && running.has(req.id)) cancelled.add(req.id);
      waiting.get(req.id)?.();
      waiting.delete(req.id);
      return;
    }
    const { id } = req;
    running.add(id);
    const emit = (m: CleanMessage): void => port.postMessage({ ...m, id });
    const swapped = () => new Promise<void>((resolve) => waiting.set(id, resolve));
    runCleanPass(req.job, threadId, emit, () => cancelled.has(id), swapped)
      .catch((e: unknown) => {
        const err = e instanceof Error ? e : new Error(String(e));
        emit({ type: 'error', name: err.name, message: err.message });
      })
      .finally(() => {
        running.delete(id);
        cancelled.delete(id);
        waiting.delete(id);
      });
  });
}
