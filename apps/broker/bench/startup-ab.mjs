// Start-up of built entries side by side: node bench/startup-ab.mjs N cliA.js [cliB.js …] (alternating, each
// run on a fresh data dir started once and stopped, then timed as the bench's startup phase: spawn →
// first ApiVersions answer). Prints medians of wall time and of the broker's CPU at that moment;
// RSS=1 adds the resident memory 3 s after the answer. E.g. copy dist/ to dist-base/ before a change.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const N = Number(process.argv[2]);
const clis = process.argv.slice(3);
const RSS = process.env.RSS === '1';
const FIRST = process.env.FIRST === '1'; // time the first start (no prior start)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function freePort() {
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => r(p));
    });
  });
}
function probe(port) {
  return new Promise((resolve) => {
    const clientId = Buffer.from('bench-probe');
    const frame = Buffer.alloc(4 + 2 + 2 + 4 + 2 + clientId.length);
    let o = frame.writeInt32BE(frame.length - 4, 0);
    o = frame.writeInt16BE(18, o);
    o = frame.writeInt16BE(0, o);
    o = frame.writeInt32BE(1, o);
    o = frame.writeInt16BE(clientId.length, o);
    clientId.copy(frame, o);
    let got = Buffer.alloc(0);
    const s = connect(port, '127.0.0.1');
    const done = (ok) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), 500);
    s.on('connect', () => s.write(frame));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 10) done(got.readInt32BE(4) === 1 && got.readInt16BE(8) === 0);
    });
    s.on('error', () => done(false));
    s.on('close', () => done(false));
  });
}
async function start(cli, dir, port, extra = []) {
  const t0 = performance.now();
  const log = openSync(join(dir, 'log'), 'a');
  const child = spawn(
    process.execPath,
    [...extra, cli, 'broker', '--host', '127.0.0.1', '--port', String(port), '--data-dir', join(dir, 'data')],
    { stdio: ['ignore', log, log], env: { ...process.env, LOG_LEVEL: 'warn' } },
  );
  while (!(await probe(port))) {
    if (child.exitCode !== null) throw new Error('exited ' + readFileSync(join(dir, 'log'), 'utf8'));
    await sleep(10);
  }
  const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { child, s: (performance.now() - t0) / 1000, cpu: (Number(f[11]) + Number(f[12])) / 100 };
}
async function stop(child) {
  const g = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await g;
}
const cpu = {};
const res = Object.fromEntries(clis.map((c) => [c, []]));
const rss = Object.fromEntries(clis.map((c) => [c, []]));
for (let i = 0; i < N; i++) {
  for (const cli of i % 2 ? [...clis].reverse() : clis) {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const port = await freePort();
    if (!FIRST) {
      const a = await start(cli, dir, port);
      await stop(a.child);
    }
    const b = await start(cli, dir, port, process.env.EXTRA ? process.env.EXTRA.split(' ') : []);
    res[cli].push(b.s);
    (cpu[cli] ??= []).push(b.cpu);
    if (RSS) {
      await sleep(3000);
      const st = readFileSync(`/proc/${b.child.pid}/status`, 'utf8');
      rss[cli].push(Number(/VmRSS:\s+(\d+)/.exec(st)[1]) / 1024);
    }
    await stop(b.child);
    rmSync(dir, { recursive: true, force: true });
  }
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};
for (const c of clis)
  console.log(
    `${c}: median ${med(res[c]).toFixed(3)} s  min ${Math.min(...res[c]).toFixed(3)} max ${Math.max(...res[c]).toFixed(3)}  [${res[c].map((x) => x.toFixed(3)).join(' ')}]` +
      `  cpu median ${med(cpu[c]).toFixed(2)} s` +
      (RSS ? `  RSS median ${med(rss[c]).toFixed(1)} MiB` : ''),
  );
