import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';

/** For tests: both ends of a TCP connection on loopback (`server` is the accepted side); `close` ends all. */
export async function loopbackSockets(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  let accepted!: (s: Socket) => void;
  const got = new Promise<Socket>((r) => {
    accepted = r;
  });
  const listener = createServer((s) => accepted(s));
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const client = createConnection((listener.address() as { port: number }).port, '127.0.0.1');
  const server = await got;
  return {
    server,
    client,
    close: () => {
      server.destroy();
      client.destroy();
      listener.close();
    },
  };
}
