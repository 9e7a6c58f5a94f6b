import { describe, expect, it } from 'vitest';
import { parseTimes, run } from './proc.js';

describe('generator CPU', () => {
  it("parses bash's times output: the children's user + system time, the rest of stderr kept", () => {
    const t = parseTimes('some warning\n0m0.004s 0m0.002s\n1m2.500s 0m0.250s\n');
    expect(t?.cpuSec).toBeCloseTo(62.75, 6);
    expect(t?.rest).toBe('some warning');
    expect(parseTimes('no times here\n')).toBeUndefined();
  });

  it('counts the CPU of a command and its children (busy loop in a child shell)', async () => {
    const r = await run('sh', ['-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; echo done'], {
      timeoutMs: 30_000,
      cpu: true,
    });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('done');
    expect(r.cpuSec).toBeGreaterThan(0.05);
    expect(r.stderr).toBe('');
    const idle = await run('sleep', ['0.3'], { timeoutMs: 30_000, cpu: true });
    expect(idle.cpuSec).toBeLessThan(0.1);
  });
});
