// A test-only TCP proxy in front of one broker's replication listener. Each broker advertises this
// proxy's port as its first listener (REPLICATION), which is the endpoint other brokers' replica
// fetchers connect to; clients use the PLAINTEXT listener and never pass here. The proxy reads the
// client id of the first request on each connection (`sluice-replica-fetcher-<nodeId>`) to know
// which follower it carries, so replication between two chosen brokers can be cut while every other
// path keeps working.

import { connect, createServer, type Server, type Socket } from 'node:net';

/** Bytes kept while waiting for the first request header: a client id longer than this is refused. */
const MAX_HEADER_BYTES = 4096;

export class ReplicationProxy {
  private readonly conns = new Set<{ follower: number; client: Socket; upstream: Socket }>();
  /** Followers whose fetches to this broker are cut. */
  private readonly cut = new Set<number>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly target: () => number,
  ) {}

  /** Listens on a free loopback port; `target()` is the broker's replication listener port. */
  static async start(target: () => number): Promise<ReplicationProxy> {
    let proxy: ReplicationProxy | undefined;
    const server = createServer((client) => proxy?.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    proxy = new ReplicationProxy(server, typeof address === 'object' && address ? address.port : 0, target);
    return proxy;
  }

  private accept(client: Socket): void {
    let head = Buffer.alloc(0);
    client.on('error', () => client.destroy());
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const follower = followerOf(head);
      if (follower === undefined) {
        if (head.length > MAX_HEADER_BYTES) client.destroy();
        return;
      }
      client.off('data', onData);
      client.pause();
      if (this.cut.has(follower)) {
        client.destroy();
        return;
      }
      const upstream = connect(this.target(), '127.0.0.1');
      const conn = { follower, client, upstream };
      this.conns.add(conn);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.conns.delete(conn);
      };
      for (const s of [client, upstream]) {
        s.on('error', drop);
        s.on('close', drop);
      }
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    };
    client.on('data', onData);
  }

  /** Drops the connections of follower `nodeId` and refuses its new ones until `restore(nodeId)`. */
  cutFollower(nodeId: number): void {
    this.cut.add(nodeId);
    for (const c of this.conns) {
      if (c.follower !== nodeId) continue;
      c.client.destroy();
      c.upstream.destroy();
      this.conns.delete(c);
    }
  }

  restore(nodeId: number): void {
    this.cut.delete(nodeId);
  }

  restoreAll(): void {
    this.cut.clear();
  }

  async close(): Promise<void> {
    for (const c of this.conns) {
      c.client.destroy();
      c.upstream.destroy();
    }
    this.conns.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The follower's node id from the first request frame's header (size, api key, version,
 * correlation id, client id as an int16-length string); -1 for a connection that is not a replica
 * fetcher's; undefined while the header is incomplete.
 */
export function followerOf(head: Buffer): number | undefined {
  if (head.length < 14) return undefined;
  const len = head.readInt16BE(12);
  if (len < 0) return -1;
  if (head.length < 14 + len) return undefined;
  const m = /^sluice-replica-fetcher-(\d+)$/.exec(head.toString('utf8', 14, 14 + len));
  return m ? Number(m[1]) : -1;
}
