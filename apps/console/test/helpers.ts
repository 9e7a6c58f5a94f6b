import { createServer } from 'node:net';
import { type RunningBroker, startBroker } from '@sluice/broker';
import { type RunningConsole, startConsole } from '../src/index.js';

/** A port nothing listens on right now (metrics.port cannot be 0). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface Stack {
  broker: RunningBroker;
  console: RunningConsole;
  metricsPort: number;
  stop(): Promise<void>;
}

/** An embedded broker (with its Prometheus endpoint) and a console on free ports. */
export async function startStack(): Promise<Stack> {
  const metricsPort = await freePort();
  const broker = await startBroker({ props: { 'metrics.port': String(metricsPort), 'num.partitions': '1' } });
  const running = await startConsole({ bootstrap: [broker.bootstrap], port: 0 });
  return {
    broker,
    console: running,
    metricsPort,
    async stop() {
      await running.close();
      await broker.stop();
    },
  };
}
