// Bounds the log lines one source can cause (a client sending malformed frames, reconnecting over a
// connection limit): the first few per interval are written, the rest only counted and reported
// in one summary line per source and interval.

export interface LogLimiterOptions {
  /** Lines written per source per interval. Default 20. */
  linesPerInterval?: number;
  /** Default 60 s. */
  intervalMs?: number;
  /** Sources tracked at once; past this, the oldest is forgotten (its count reported first). Default 1000. */
  maxSources?: number;
  now?: () => number;
}

interface SourceWindow {
  startedMs: number;
  written: number;
  suppressed: number;
}

export interface Suppressed {
  source: string;
  suppressed: number;
}

export class LogLimiter {
  private readonly linesPerInterval: number;
  private readonly intervalMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;
  /** In insertion order, so the first entry is the oldest window. */
  private readonly sources = new Map<string, SourceWindow>();

  constructor(opts: LogLimiterOptions = {}) {
    this.linesPerInterval = opts.linesPerInterval ?? 20;
    this.intervalMs = opts.intervalMs ?? 60_000;
    this.maxSources = opts.maxSources ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Whether a line from `source` may be written now. `ended` lists sources whose earlier window
   * suppressed lines, for the caller to report (each once).
   */
  admit(source: string): { write: boolean; ended: Suppressed[] } {
    const now = this.now();
    const ended: Suppressed[] = [];
    let w = this.sources.get(source);
    if (w !== undefined && now - w.startedMs >= this.intervalMs) {
      if (w.suppressed > 0) ended.push({ source, suppressed: w.suppressed });
      this.sources.delete(source);
      w = undefined;
    }
    if (w === undefined) {
      if (this.sources.size >= this.maxSources) {
        const [oldest, ow] = this.sources.entries().next().value as [string, SourceWindow];
        if (ow.suppressed > 0) ended.push({ source: oldest, suppressed: ow.suppressed });
        this.sources.delete(oldest);
      }
      w = { startedMs: now, written: 0, suppressed: 0 };
      this.sources.set(source, w);
    }
    if (w.written < this.linesPerInterval) {
      w.written++;
      return { write: true, ended };
    }
    w.suppressed++;
    return { write: false, ended };
  }

  /** Ends every window older than the interval; returns those that suppressed lines (a timer reports them). */
  sweep(): Suppressed[] {
    const now = this.now();
    const ended: Suppressed[] = [];
    for (const [source, w] of this.sources) {
      if (now - w.startedMs < this.intervalMs) continue;
      if (w.suppressed > 0) ended.push({ source, suppressed: w.suppressed });
      this.sources.delete(source);
    }
    return ended;
  }
}
