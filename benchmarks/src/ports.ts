// Ports for the brokers under test: picked free by the OS, checked free again right before a start, and
// after a start checked to be held by the process that was spawned. Without this a broker already on
// the port (another run, a developer's broker) answers the start-up probe, and the harness measures
// that process instead of the one it spawned.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

const HOST = '127.0.0.1';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    // exclusive: a port held by another process is refused, never shared with it.
    s.listen({ port, host: HOST, exclusive: true }, () => resolve(s));
  });
}

const close = (s: Server) => new Promise<void>((r) => s.close(() => r()));

/** `count` distinct ports that were free a moment ago (all held at once while picking, so none repeats). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(0));
    return servers.map((s) => {
      const a = s.address();
      if (a === null || typeof a === 'string') throw new Error('listening socket has no port');
      return a.port;
    });
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** Listening TCP sockets on `port` (IPv4 and IPv6), as socket inodes from /proc/net/tcp{,6}. */
export function listeningInodes(port: number): Set<string> {
  const out = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      const local = f[1];
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) out.add(f[9]);
    }
  }
  return out;
}

/** Socket inodes among a process's open files (empty when it is gone or not ours to read). */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch {}
  }
  return out;
}

/** The processes (of this user) holding a listening socket on `port`, with their command lines. */
export function listenersOf(port: number): Array<{ pid: number; cmd: string }> {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return [];
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (![...socketInodes(pid)].some((i) => inodes.has(i))) continue;
    let cmd = '?';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim().slice(0, 200);
    } catch {}
    out.push({ pid, cmd });
  }
  return out;
}

function describeHolders(port: number): string {
  const holders = listenersOf(port);
  return holders.length ? holders.map((h) => `pid ${h.pid}: ${h.cmd}`).join('; ') : 'a process this user cannot see';
}

/** Throws, naming the holder, when something already listens on `port`. */
export async function assertPortFree(port: number, what: string): Promise<void> {
  let s: Server;
  try {
    s = await listen(port);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    throw new Error(
      `${what} port ${port} is already in use (${describeHolders(port)}); refusing to start a broker there, ` +
        'since the harness would measure that process instead of the one it starts',
    );
  }
  await close(s);
}

/** Throws unless process `pid` is the one listening on `port` (it answered, but was it ours?). */
export function assertListenerIs(pid: number, port: number, what: string): void {
  const inodes = listeningInodes(port);
  const mine = socketInodes(pid);
  if ([...inodes].some((i) => mine.has(i))) return;
  throw new Error(
    `${what}: the process answering on port ${port} is not the spawned pid ${pid} ` +
      `(listening: ${inodes.size ? describeHolders(port) : 'nothing'}); refusing to measure it`,
  );
}
