// Self time by frame of V8 CPU profiles (node --cpu-prof): the top frames and the garbage collector's
// share, for profile-top.ts and the bench's profile phase.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  startTime?: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  files: number;
  /** Microseconds sampled in all. */
  totalUs: number;
  /** V8's "(garbage collector)" frame. */
  gcUs: number;
  /** "(idle)": the event loop waiting. */
  idleUs: number;
  top: Array<{ frame: string; us: number }>;
}

/**
 * `target` is a .cpuprofile file or a directory of them. `window` keeps only the samples taken within it,
 * in µs of the monotonic clock both V8's profiler and process.hrtime read (to leave start-up out).
 */
export function summarizeProfiles(
  target: string,
  count = 25,
  window?: { fromUs: number; toUs: number },
): ProfileSummary {
  const files = statSync(target).isDirectory()
    ? readdirSync(target)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(target, f))
    : [target];
  const self = new Map<string, number>();
  let total = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(f, 'utf8')) as Profile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    // Self time per node: the time deltas of the samples that landed on it.
    const samples = p.samples ?? [];
    const deltas = p.timeDeltas ?? [];
    let at = p.startTime ?? 0;
    for (let i = 0; i < samples.length; i++) {
      const us = deltas[i] ?? 0;
      at += us;
      if (window && (at < window.fromUs || at > window.toUs)) continue;
      const n = byId.get(samples[i]);
      if (!n) continue;
      const { functionName, url, lineNumber } = n.callFrame;
      const where = url ? ` ${url.replace(/^.*\/(apps|packages|node_modules)\//, '$1/')}:${lineNumber + 1}` : '';
      const key = `${functionName || '(anonymous)'}${where}`;
      self.set(key, (self.get(key) ?? 0) + us);
      total += us;
    }
  }
  return {
    files: files.length,
    totalUs: total,
    gcUs: self.get('(garbage collector)') ?? 0,
    idleUs: self.get('(idle)') ?? 0,
    top: [...self]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([frame, us]) => ({ frame, us })),
  };
}

/** A Markdown section: GC and idle shares, then the top frames by self time. */
export function profileMarkdown(title: string, s: ProfileSummary): string {
  const pct = (us: number) => `${((us / Math.max(1, s.totalUs)) * 100).toFixed(1)}%`;
  const busy = s.totalUs - s.idleUs;
  const lines = [
    `## ${title}`,
    '',
    `${s.files} profile(s), ${(s.totalUs / 1e6).toFixed(1)} s sampled; idle ${pct(s.idleUs)}; garbage collector ${pct(s.gcUs)} of all samples (${((s.gcUs / Math.max(1, busy)) * 100).toFixed(1)}% of busy time).`,
    '',
    '| self time | share | frame |',
    '| ---: | ---: | --- |',
    ...s.top.map((t) => `| ${(t.us / 1e3).toFixed(0)} ms | ${pct(t.us)} | \`${t.frame}\` |`),
  ];
  return `${lines.join('\n')}\n`;
}
