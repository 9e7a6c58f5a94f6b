// Long operations (deleting many topics) run in the background as jobs with a progress page that
// refreshes itself until the job ends: the request that starts one answers at once.
import { randomUUID } from 'node:crypto';
import { KafkaError } from '@sluice/client';
import { html } from 'hono/html';
import { type Html, page } from './layout.js';
import { InputError } from './validate.js';

/** Jobs kept (running or ended) at most; the oldest ended one goes first. */
export const MAX_JOBS = 50;

export interface Job {
  id: string;
  title: string;
  total: number;
  done: number;
  failures: string[];
  ended: boolean;
  /** Where to go once it ended. */
  back: string;
  /** The session that started it (null without logins): only it sees the job. */
  owner: string | null;
}

export class Jobs {
  private readonly jobs = new Map<string, Job>();

  /** Runs `steps` one after another, counting each step's `weight` as done (or failed) as it ends. */
  start(
    title: string,
    back: string,
    steps: ReadonlyArray<{ weight: number; label: string; run: () => Promise<void> }>,
    owner: string | null = null,
  ): Job {
    if (this.jobs.size >= MAX_JOBS) {
      const ended = [...this.jobs.values()].find((j) => j.ended);
      if (ended === undefined) throw new InputError(`${MAX_JOBS} operations are still running: wait for one to end`);
      this.jobs.delete(ended.id);
    }
    const job: Job = {
      id: randomUUID(),
      title,
      total: steps.reduce((n, s) => n + s.weight, 0),
      done: 0,
      failures: [],
      ended: false,
      back,
      owner,
    };
    this.jobs.set(job.id, job);
    void (async () => {
      for (const s of steps) {
        try {
          await s.run();
        } catch (err) {
          job.failures.push(
            `${s.label}: ${err instanceof KafkaError ? `${err.errorName}: ${err.message}` : String(err)}`.slice(0, 500),
          );
        }
        job.done += s.weight;
      }
      job.ended = true;
    })();
    return job;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }
}

export function jobPage(job: Job): Html {
  const head = job.ended ? html`` : html`<meta http-equiv="refresh" content="1">`;
  return page(
    job.title,
    html`<p><progress id="job-progress" value="${job.done}" max="${job.total}"></progress>
<span id="job-count">${job.done} of ${job.total}</span> — <span id="job-state">${job.ended ? (job.failures.length === 0 ? 'done' : `ended with ${job.failures.length} failure(s)`) : 'running'}</span></p>
${job.failures.length > 0 ? html`<ul id="job-failures">${job.failures.map((f) => html`<li>${f}</li>`)}</ul>` : ''}
${job.ended ? html`<p><a href="${job.back}">Back</a></p>` : html`<p class="muted">This page refreshes every second until the operation ends.</p>`}`,
    { head },
  );
}
