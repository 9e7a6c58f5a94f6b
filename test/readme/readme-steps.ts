// The runnable examples of a README: every fenced block right after a `<!-- readme-test: … -->`
// comment. `<!-- readme-test: orders.ts; npx tsx orders.ts -->` saves the block as orders.ts and
// runs `npx tsx orders.ts`; `<!-- readme-test: sh -->` runs each line of the block as a command.

export interface ReadmeStep {
  /** Where the block is saved before `command` runs; undefined for a command line of an `sh` block. */
  file?: string;
  /** The block's text (for a file step). */
  code?: string;
  /** A shell command line, as written. */
  command: string;
  /** 1-based line of the README the step comes from, for failure messages. */
  line: number;
}

const MARKER = /^<!-- readme-test: (.+?) -->$/;

export function readmeSteps(markdown: string): ReadmeStep[] {
  const lines = markdown.split('\n');
  const steps: ReadmeStep[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = MARKER.exec(lines[i].trim());
    if (m === null) continue;
    const open = lines[i + 1]?.trim() ?? '';
    if (!open.startsWith('```'))
      throw new Error(`README line ${i + 2}: a readme-test marker must be followed by a fence`);
    const close = lines.findIndex((l, j) => j > i + 1 && l.trim() === '```');
    if (close < 0) throw new Error(`README line ${i + 2}: the fenced block is not closed`);
    const body = lines.slice(i + 2, close);
    const spec = m[1].trim();
    if (spec === 'sh') {
      body.forEach((l, k) => {
        const command = l.replace(/\s+#.*$/, '').trim();
        if (command.length > 0) steps.push({ command, line: i + 3 + k });
      });
    } else {
      const [file, command] = spec.split(';').map((s) => s.trim());
      if (!file || !command) throw new Error(`README line ${i + 1}: expected "readme-test: <file>; <command>"`);
      steps.push({ file, code: `${body.join('\n')}\n`, command, line: i + 1 });
    }
    i = close;
  }
  return steps;
}
