// The security rows: produce and consume throughput over PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512),
// Sluice and Kafka side by side with the same certificates and the same Java tools (ProducerPerformance,
// ConsumerPerformance with a client config), the broker's CPU per GiB, and the TLS cost: each secured
// protocol's throughput over PLAINTEXT's on the same broker in the same trial. Brokers alternate first
// place per trial; `npm run bench -- --only security`.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka } from '@sluice/client';
import { type Broker, KafkaBroker, runKafkaClass, SluiceBroker } from './brokers.js';
import { kafkaConsumerPerf, type Measurement, parseProducerPerformance } from './generators.js';
import { freePorts } from './ports.js';
import { cpuSeconds, run } from './proc.js';
import type { Row } from './report.js';

export interface SecurityPhaseContext {
  trials: number;
  quick: boolean;
  work: string;
  log(s: string): void;
  row(id: string, init: Omit<Row, 'id' | 'sluice' | 'kafka' | 'details'>): Row;
  attempt<T>(what: string, fn: () => Promise<T>): Promise<T | undefined>;
}

const PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_SSL'] as const;
type Protocol = (typeof PROTOCOLS)[number];
const SIZE = 1024;
const PARTITIONS = 3;
const USER = 'bench';
const PASSWORD = 'bench-secret';
const TIMEOUT_MS = 300_000;

/** A CA and a broker certificate for 127.0.0.1 (SAN), PEM, made with openssl; both brokers use them. */
async function makeCerts(dir: string): Promise<{ ca: string; keystore: string }> {
  mkdirSync(dir, { recursive: true });
  const f = (name: string) => join(dir, name);
  const sh = async (args: string[]) => {
    const r = await run('openssl', args, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr.slice(-500)}`);
  };
  await sh([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=bench-ca',
  ]);
  await sh([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    f('broker.key'),
    '-out',
    f('broker.csr'),
    '-subj',
    '/CN=localhost',
  ]);
  writeFileSync(f('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await sh([
    'x509',
    '-req',
    '-in',
    f('broker.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-out',
    f('broker.pem'),
    '-days',
    '2',
    '-extfile',
    f('san.ext'),
  ]);
  const { readFileSync } = await import('node:fs');
  const keystore = f('broker.keystore.pem');
  writeFileSync(keystore, readFileSync(f('broker.key'), 'utf8') + readFileSync(f('broker.pem'), 'utf8'));
  return { ca: f('ca.pem'), keystore };
}

/** The broker configs both brokers take (Kafka's names); Kafka adds its controller listener. */
function brokerConfig(
  name: 'sluice' | 'kafka',
  ports: Record<Protocol, number>,
  certs: { ca: string; keystore: string },
  controllerPort?: number,
): Record<string, string> {
  const listeners = PROTOCOLS.map((p) => `${p}://127.0.0.1:${ports[p]}`).join(',');
  return {
    listeners: name === 'kafka' ? `${listeners},CONTROLLER://127.0.0.1:${controllerPort}` : listeners,
    'advertised.listeners': listeners,
    'listener.security.protocol.map': `${name === 'kafka' ? 'CONTROLLER:PLAINTEXT,' : ''}PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL`,
    'sasl.enabled.mechanisms': 'SCRAM-SHA-512',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config':
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'ssl.keystore.type': 'PEM',
    'ssl.keystore.location': certs.keystore,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': certs.ca,
  };
}

function clientConfig(dir: string, p: Protocol, ca: string): string {
  const file = join(dir, `client-${p}.properties`);
  const lines =
    p === 'PLAINTEXT' ? [] : [`security.protocol=${p}`, 'ssl.truststore.type=PEM', `ssl.truststore.location=${ca}`];
  if (p === 'SASL_SSL') {
    lines.push(
      'sasl.mechanism=SCRAM-SHA-512',
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${USER}" password="${PASSWORD}";`,
    );
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

async function produce(port: number, topic: string, records: number, config: string): Promise<Measurement> {
  const r = await runKafkaClass(
    'org.apache.kafka.tools.ProducerPerformance',
    [
      '--topic',
      topic,
      '--num-records',
      String(records),
      '--record-size',
      String(SIZE),
      '--throughput',
      '-1',
      '--producer.config',
      config,
      '--producer-props',
      `bootstrap.servers=127.0.0.1:${port}`,
      'acks=1',
      'linger.ms=5',
    ],
    TIMEOUT_MS,
  );
  if (r.code !== 0) throw new Error(`ProducerPerformance exited ${r.code}: ${r.stderr.slice(-800)}`);
  return parseProducerPerformance(r.stdout, SIZE);
}

export async function securityPhase(ctx: SecurityPhaseContext): Promise<void> {
  const records = ctx.quick ? 10_000 : 100_000;
  const label = (p: Protocol) => (p === 'SASL_SSL' ? 'SASL_SSL (SCRAM-SHA-512)' : p);
  const rowsOf = (p: Protocol) => ({
    produce: ctx.row(`security/${p}/produce`, {
      kind: 'produce',
      label: `produce 1 KiB, ${PARTITIONS} p, acks=1 over ${label(p)}`,
      generator: 'kafka-perf',
      unit: 'rec/s',
      higherIsBetter: true,
      size: SIZE,
    }),
    consume: ctx.row(`security/${p}/consume`, {
      kind: 'consume',
      label: `consume 1 KiB, ${PARTITIONS} p over ${label(p)}`,
      generator: 'kafka-perf',
      unit: 'rec/s',
      higherIsBetter: true,
      size: SIZE,
    }),
    cpu: ctx.row(`security/${p}/cpu`, {
      kind: 'cost',
      label: `broker CPU per GiB produced and consumed over ${label(p)}`,
      unit: 'CPU s/GiB',
      higherIsBetter: false,
    }),
    cost:
      p === 'PLAINTEXT'
        ? undefined
        : ctx.row(`security/${p}/tls-cost`, {
            kind: 'cost',
            label: `TLS cost: produce+consume throughput over ${label(p)} / PLAINTEXT, same broker`,
            unit: '×',
            higherIsBetter: true,
          }),
  });
  // Made before any attempt, so a failed start leaves empty rows the smoke check reports.
  const rows = new Map(PROTOCOLS.map((p) => [p, rowsOf(p)]));
  const certs = await makeCerts(join(ctx.work, 'security-certs'));
  for (let t = 1; t <= ctx.trials; t++) {
    const order: ('sluice' | 'kafka')[] = t % 2 === 1 ? ['sluice', 'kafka'] : ['kafka', 'sluice'];
    for (const name of order) {
      await ctx.attempt(`security rows, ${name} t${t}`, async () => {
        const [plain, ssl, saslSsl, controller] = await freePorts(4);
        const ports: Record<Protocol, number> = { PLAINTEXT: plain!, SSL: ssl!, SASL_SSL: saslSsl! };
        const broker: Broker = name === 'sluice' ? new SluiceBroker(plain!) : new KafkaBroker(plain!, controller!);
        const dir = join(ctx.work, `security-${name}-${t}`);
        try {
          await broker.start(dir, brokerConfig(name, ports, certs, controller));
          const admin = new Kafka({ brokers: [`127.0.0.1:${plain}`], clientId: 'bench-security' }).admin();
          try {
            await admin.upsertScramCredential(USER, 'SCRAM-SHA-512', PASSWORD, 4096);
            await admin.createTopics(
              PROTOCOLS.map((p) => ({ name: `sec-${p}`, numPartitions: PARTITIONS, replicationFactor: 1 })),
            );
          } finally {
            await admin.close();
          }
          const rate: Partial<Record<Protocol, number>> = {};
          for (const p of PROTOCOLS) {
            const config = clientConfig(dir, p, certs.ca);
            const cpu0 = cpuSeconds(broker.pid());
            const pm = await produce(ports[p], `sec-${p}`, records, config);
            const cm = await kafkaConsumerPerf(ports[p], `sec-${p}`, records, SIZE, `sec-${p}-${t}`, config);
            const cpu1 = cpuSeconds(broker.pid());
            if (cpu0 === undefined || cpu1 === undefined) throw new Error(`${name} broker process is gone`);
            const gib = (2 * records * SIZE) / 2 ** 30;
            const r = rows.get(p)!;
            r.produce[name].push(pm.recordsPerSec);
            r.produce.details[name].push(pm);
            r.consume[name].push(cm.recordsPerSec);
            r.consume.details[name].push(cm);
            r.cpu[name].push((cpu1 - cpu0) / gib);
            // Produce and consume together: records moved each way over the time both took.
            rate[p] = (2 * records) / (pm.seconds + cm.seconds);
            ctx.log(
              `security ${name} ${p} t${t}: produce ${Math.round(pm.recordsPerSec).toLocaleString('en-US')} rec/s, consume ${Math.round(cm.recordsPerSec).toLocaleString('en-US')} rec/s, broker ${((cpu1 - cpu0) / gib).toFixed(1)} CPU s/GiB`,
            );
          }
          for (const p of ['SSL', 'SASL_SSL'] as const) rows.get(p)!.cost![name].push(rate[p]! / rate.PLAINTEXT!);
        } finally {
          await broker.kill();
          rmSync(dir, { recursive: true, force: true });
        }
      });
    }
  }
}
