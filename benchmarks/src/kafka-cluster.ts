// A 3-node KRaft Apache Kafka on this machine for the replicated rows (as the conformance suite's
// startKafkaCluster starts one): every node broker+controller, node ids 1..n, ports picked free, each
// started by reference-kafka.sh as one node of the quorum, its dir formatted with the one shared cluster id.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { KAFKA_SCRIPT } from './brokers.js';
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
  // One cluster id for every node's dir (reference-kafka.sh formats with a fresh one of its own otherwise).
  const id = await run('bash', [KAFKA_SCRIPT, 'cluster-id'], { timeoutMs: 10_000 });
  const clusterId = id.stdout.trim();
  if (id.code !== 0 || clusterId === '') throw new Error(`kafka cluster id: ${id.stderr.slice(-800)}`);
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
            '--node-id',
            String(s.nodeId),
            '--voters',
            voters,
            '--cluster-id',
            clusterId,
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
