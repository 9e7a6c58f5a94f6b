// A 3-node KRaft Apache Kafka on this machine for the replicated rows (as the conformance suite's
// startKafkaCluster starts one): every node broker+controller, node ids 1..n, ports picked free, each dir
// formatted with one shared cluster id before the nodes start (reference-kafka.sh would format each with
// its own random id), then started with reference-kafka.sh's --set overrides.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KAFKA_SCRIPT, runKafkaClass } from './brokers.js';
import { freePorts } from './ports.js';
import { run, waitExit } from './proc.js';

export interface KafkaCluster {
  readonly ports: number[];
  pids(): number[];
  /** SIGKILLs every node (the data is thrown away). */
  stop(): Promise<void>;
}

export async function startKafkaCluster(dir: string, count: number): Promise<KafkaCluster> {
  const ports = await freePorts(count * 2);
  const spec = Array.from({ length: count }, (_, i) => ({
    nodeId: i + 1,
    port: ports[2 * i],
    controllerPort: ports[2 * i + 1],
    dir: join(dir, `kafka-${i + 1}`),
  }));
  const voters = spec.map((s) => `${s.nodeId}@127.0.0.1:${s.controllerPort}`).join(',');
  // A KRaft cluster id: 16 random bytes, base64url; one starting with '-' would read as an option.
  let clusterId = '-';
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  await Promise.all(
    spec.map(async (s) => {
      mkdirSync(s.dir, { recursive: true });
      const file = join(s.dir, 'format.properties');
      const lines = {
        'process.roles': 'broker,controller',
        'node.id': String(s.nodeId),
        'controller.quorum.voters': voters,
        listeners: `PLAINTEXT://127.0.0.1:${s.port},CONTROLLER://127.0.0.1:${s.controllerPort}`,
        'controller.listener.names': 'CONTROLLER',
        'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        'log.dirs': join(s.dir, 'data'),
      };
      writeFileSync(
        file,
        `${Object.entries(lines)
          .map(([k, v]) => `${k}=${v}`)
          .join('\n')}\n`,
      );
      const r = await runKafkaClass('kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', file], 120_000);
      if (r.code !== 0) throw new Error(`kafka format node ${s.nodeId}: ${r.stderr.slice(-800)}`);
    }),
  );
  const pidOf = (s: (typeof spec)[number]) => Number(readFileSync(join(s.dir, 'kafka.pid'), 'utf8').trim());
  const started: typeof spec = [];
  const stop = async () => {
    for (const s of started) {
      try {
        const pid = pidOf(s);
        process.kill(pid, 'SIGKILL');
        await waitExit(pid, 10_000);
      } catch {}
      rmSync(s.dir, { recursive: true, force: true });
    }
  };
  try {
    await Promise.all(
      spec.map(async (s) => {
        const r = await run(
          'bash',
          [
            KAFKA_SCRIPT,
            'start',
            '--port',
            String(s.port),
            '--controller-port',
            String(s.controllerPort),
            '--dir',
            s.dir,
            '--set',
            `node.id=${s.nodeId}`,
            '--set',
            `controller.quorum.voters=${voters}`,
          ],
          { timeoutMs: 180_000 },
        );
        started.push(s);
        if (r.code !== 0) throw new Error(`kafka node ${s.nodeId} start: ${r.stderr.slice(-800)}`);
      }),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { ports: spec.map((s) => s.port), pids: () => spec.map(pidOf), stop };
}
