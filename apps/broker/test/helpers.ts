// Shared by the broker's end-to-end tests: a broker as a real child process (or in-process), a raw
// Kafka-protocol client built on @sluice/protocol's codecs, a Fetch-based reader that decodes
// everything a partition holds, and kafkajs codec plug-ins for snappy, LZ4 and ZSTD.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compress as zstdCompress, decompress as zstdDecompress } from '@mongodb-js/zstd';
import { LocalEtcd } from '@sluice/cluster';
import {
  type ApiDefinition,
  ApiVersionsApi,
  FetchApi,
  type FetchRequest,
  FrameDecoder,
  iterateBatches,
  ListOffsetsApi,
  Reader,
  ResponseHeaderCodec,
  responseHeaderVersion,
  Writer,
  writeRequest,
} from '@sluice/protocol';
import { compressFrame, decompressFrame } from 'lz4-napi';
import { compressSync as snappyCompress, uncompressSync as snappyUncompress } from 'snappy';
import { afterAll } from 'vitest';
import { type RunningBroker, startBroker } from '../src/index.js';
import { createLogger } from '../src/logger.js';

export const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const DIST_CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** The built `sluice` entry (dist/cli.js): what `npm start`, the benchmarks and users run. */
export function builtCli(): string {
  if (!existsSync(DIST_CLI)) throw new Error(`${DIST_CLI} is missing: build first (npm run build)`);
  return DIST_CLI;
}
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const madeDirs: string[] = [];
// Test files are isolated, so this module loads once per file: its directories go after the file.
afterAll(() => {
  for (const d of madeDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix = 'sluice-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.push(dir);
  return dir;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A port nothing listens on right now (for a listener that cannot be given port 0, like metrics.port). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

// ---------------------------------------------------------------------------------------------
// Brokers

/** A broker inside the test process: fast, for tests that do not need a process boundary. */
export function startInProcess(props: Record<string, string> = {}): Promise<RunningBroker> {
  return startBroker({ props, logger: createLogger('silent') });
}

/**
 * Waits until `ok` holds, polling; throws naming `what` after `ms`. The default is generous: a 2-core CI
 * machine running brokers, etcd and vitest at once can stall a process for seconds.
 */
export async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The props of broker `nodeId` of an in-process cluster on `etcd` (its data in `logDir`). */
export function clusterBrokerProps(
  etcd: LocalEtcd,
  nodeId: number,
  logDir: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    'node.id': String(nodeId),
    'metadata.etcd.endpoints': etcd.endpoints.join(','),
    'log.dirs': logDir,
    listeners: 'PLAINTEXT://127.0.0.1:0',
    ...extra,
  };
}

/**
 * Brokers 1..count in this process on a one-member etcd of their own, each with a raw client,
 * once every broker sees all of them registered.
 */
export async function startEtcdCluster(
  prefix: string,
  extra: Record<string, string> = {},
  count = 3,
): Promise<{ etcd: LocalEtcd; brokers: RunningBroker[]; clients: RawClient[] }> {
  const etcd = await LocalEtcd.start({ members: 1 });
  const brokers: RunningBroker[] = [];
  for (let nodeId = 1; nodeId <= count; nodeId++) {
    const props = clusterBrokerProps(etcd, nodeId, tempDir(`${prefix}-${nodeId}-`), extra);
    brokers.push(await startBroker({ logger: createLogger('silent'), props }));
  }
  const clients: RawClient[] = [];
  for (const b of brokers) clients.push(await RawClient.connect(b.port));
  await until('all brokers registered everywhere', () =>
    brokers.every((b) => b.context.store.image.brokers.size === count),
  );
  return { etcd, brokers, clients };
}

export interface BrokerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly host: string;
  readonly bootstrap: string;
  readonly dataDir: string;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code (null when killed by a signal). */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface SpawnOptions {
  dataDir?: string;
  /** Kafka-named overrides, passed as `--override k=v`. */
  overrides?: Record<string, string>;
  timeoutMs?: number;
  /** Run the built entry (`builtCli()`) from an unrelated working directory instead of the sources under tsx. */
  built?: boolean;
  /** Start the broker under this open-file limit (`ulimit -n`, through sh). */
  openFileLimit?: number;
  /** More `sluice broker` flags (e.g. `--node-id 2 --metadata etcd://…`). */
  args?: string[];
}

/**
 * Starts `sluice broker` as a child process from the TypeScript sources (no build step) or, with
 * `built`, from the built entry; reads the bound port from its 'listening' log line and waits until
 * it answers ApiVersions.
 */
export async function spawnBroker(opts: SpawnOptions = {}): Promise<BrokerProcess> {
  const dataDir = opts.dataDir ?? tempDir();
  const entry = opts.built ? [builtCli()] : ['--conditions=sluice-source', '--import', 'tsx', CLI];
  const args = [...entry, 'broker', '--port', '0', '--data-dir', dataDir];
  for (const [k, v] of Object.entries(opts.overrides ?? {})) args.push('--override', `${k}=${v}`);
  args.push(...(opts.args ?? []));
  // `exec` keeps the pid: it is the broker's own, for /proc/PID and signals.
  const [command, argv] =
    opts.openFileLimit === undefined
      ? [process.execPath, args]
      : ['/bin/sh', ['-c', `ulimit -n ${opts.openFileLimit} && exec "$0" "$@"`, process.execPath, ...args]];
  const child = spawn(command, argv, {
    cwd: opts.built ? tempDir('sluice-cwd-') : REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  // Bounded: only the last 256 KiB of output is kept, for error messages.
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 256 * 1024) out = out.slice(-128 * 1024);
  };
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`broker did not report 'listening' in time:\n${out}`));
    }, opts.timeoutMs ?? 30_000);
    let pending = '';
    child.stdout!.on('data', (d: Buffer) => {
      keep(d);
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          const o = JSON.parse(line) as { msg?: string; port?: number };
          if (o.msg === 'listening' && typeof o.port === 'number') {
            clearTimeout(timer);
            resolve(o.port);
          }
        } catch {
          // not a log line
        }
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited early with ${code}:\n${out}`));
    });
  });
  const probe = await RawClient.connect(port);
  await probe.send(ApiVersionsApi, 3, { clientSoftwareName: 'probe', clientSoftwareVersion: '1' });
  probe.close();
  return {
    child,
    port,
    host: '127.0.0.1',
    bootstrap: `127.0.0.1:${port}`,
    dataDir,
    output: () => out,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// A raw protocol client

interface PendingResponse {
  api: ApiDefinition;
  version: number;
  correlationId: number;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/**
 * One TCP connection speaking Kafka's framing with @sluice/protocol's generated codecs. Responses
 * arrive in request order, so pending requests are a FIFO queue.
 */
export class RawClient {
  private readonly decoder = new FrameDecoder({ maxFrameSize: 256 * 1024 * 1024 });
  private readonly pending: PendingResponse[] = [];
  private nextCorrelationId = 1;
  private closeError: Error | undefined;
  /** Resolves when the broker (or we) closed the connection. */
  readonly closed: Promise<void>;
  isClosed = false;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk, (frame) => this.onFrame(frame));
      } catch (err) {
        socket.destroy(err as Error);
      }
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.isClosed = true;
        const err = this.closeError ?? new Error('connection closed by the broker');
        for (const p of this.pending.splice(0)) p.reject(err);
        resolve();
      });
    });
    socket.on('error', (err) => {
      this.closeError = err;
    });
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    const socket = createConnection({ host, port });
    await once(socket, 'connect');
    return new RawClient(socket);
  }

  private onFrame(frame: Buffer): void {
    const p = this.pending.shift();
    if (p === undefined) throw new Error('response without a request');
    try {
      const r = new Reader(frame);
      const header = ResponseHeaderCodec.decode(r, responseHeaderVersion(p.api.apiKey, p.version));
      if (header.correlationId !== p.correlationId) {
        throw new Error(`correlation id ${header.correlationId}, expected ${p.correlationId}`);
      }
      // ApiVersions answers an unsupported version (35) with a v0 body; other errors in the version asked.
      const bodyVersion =
        p.api.apiKey === ApiVersionsApi.apiKey && frame.length >= 6 && frame.readInt16BE(4) === 35 ? 0 : p.version;
      p.resolve(p.api.response.decode(r, bodyVersion));
    } catch (err) {
      p.reject(err as Error);
    }
  }

  /** Encodes a request frame; `body` fields not given take the schema's defaults. */
  static encode<Req>(
    api: ApiDefinition<Req, unknown>,
    version: number,
    body: Partial<Req>,
    correlationId: number,
    clientId = 'sluice-e2e',
  ): Buffer {
    const w = new Writer(1024);
    writeRequest(w, api, version, { ...api.request.defaults(), ...body }, correlationId, clientId);
    return w.toBuffer();
  }

  /** Sends one request and resolves with its decoded response. */
  send<Req, Res>(api: ApiDefinition<Req, Res>, version: number, body: Partial<Req>): Promise<Res> {
    if (this.isClosed) return Promise.reject(new Error('connection is closed'));
    const correlationId = this.nextCorrelationId++;
    const frame = RawClient.encode(api, version, body, correlationId);
    return new Promise<Res>((resolve, reject) => {
      this.pending.push({
        api: api as ApiDefinition,
        version,
        correlationId,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      this.socket.write(frame);
    });
  }

  /** Sends a request that gets no response (Produce with acks=0). */
  sendOneWay<Req>(api: ApiDefinition<Req, unknown>, version: number, body: Partial<Req>): void {
    this.socket.write(RawClient.encode(api, version, body, this.nextCorrelationId++));
  }

  /** Writes arbitrary bytes. */
  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Resolves true when the connection is closed within `ms`, false if it stays open. */
export async function closedWithin(client: RawClient, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    client.closed.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Reading partitions back with plain Fetch

export interface ConsumedRecord {
  partition: number;
  offset: bigint;
  timestamp: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: { key: string; value: Buffer | null }[];
  /** The batch's producer fields, for idempotence checks. */
  producerId: bigint;
  sequence: number;
  compression: number;
  /** The leader epoch the batch was appended under. */
  leaderEpoch: number;
}

export function fetchRequest(
  topic: string,
  partitions: { partition: number; fetchOffset: bigint; partitionMaxBytes?: number }[],
  extra: Partial<FetchRequest> = {},
): Partial<FetchRequest> {
  return {
    replicaId: -1,
    maxWaitMs: 0,
    minBytes: 1,
    maxBytes: 64 * 1024 * 1024,
    isolationLevel: 0,
    sessionId: 0,
    sessionEpoch: -1,
    topics: [
      {
        topic,
        topicId: '00000000-0000-0000-0000-000000000000',
        partitions: partitions.map((p) => ({
          partition: p.partition,
          currentLeaderEpoch: -1,
          fetchOffset: p.fetchOffset,
          lastFetchedEpoch: -1,
          logStartOffset: -1n,
          partitionMaxBytes: p.partitionMaxBytes ?? 8 * 1024 * 1024,
          replicaDirectoryId: '00000000-0000-0000-0000-000000000000',
          highWatermark: 0x7fffffffffffffffn,
        })),
      },
    ],
    forgottenTopicsData: [],
    rackId: '',
    ...extra,
  };
}

/** Decodes every record of a Fetch `records` field (whole batches only), decompressing as needed. */
export async function decodeRecords(partition: number, records: Buffer | null): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  if (records === null || records.length === 0) return out;
  for (const batch of iterateBatches(records)) {
    batch.validate();
    let i = 0;
    for (const r of await batch.decompressedRecords()) {
      out.push({
        partition,
        offset: r.offset,
        timestamp: r.timestamp,
        key: r.key === null ? null : Buffer.from(r.key),
        value: r.value === null ? null : Buffer.from(r.value),
        headers: r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : Buffer.from(h.value) })),
        producerId: batch.producerId,
        sequence: batch.baseSequence < 0 ? -1 : batch.baseSequence + i,
        compression: batch.compression,
        leaderEpoch: batch.partitionLeaderEpoch,
      });
      i++;
    }
  }
  return out;
}

/**
 * One partition's ListOffsets v7 answer for `timestamp` (-1 latest, -2 earliest, -3 max timestamp,
 * or a time in ms).
 */
export async function listOffset(client: RawClient, topic: string, partition: number, timestamp: bigint) {
  const res = await client.send(ListOffsetsApi, 7, {
    replicaId: -1,
    topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp }] }],
  });
  const p = res.topics[0]?.partitions[0];
  if (p === undefined) throw new Error('ListOffsets response without the partition');
  return p;
}

/**
 * Reads a partition from `from` up to its high watermark with sessionless Fetch v12 requests.
 * Bounded by `maxRounds` requests.
 */
export async function readPartition(
  client: RawClient,
  topic: string,
  partition: number,
  from = 0n,
  maxRounds = 10_000,
): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  let offset = from;
  for (let round = 0; round < maxRounds; round++) {
    const res = await client.send(FetchApi, 12, fetchRequest(topic, [{ partition, fetchOffset: offset }]));
    if (res.errorCode !== 0) throw new Error(`fetch error ${res.errorCode}`);
    const p = res.responses[0]?.partitions[0];
    if (p === undefined) throw new Error('fetch response without the partition');
    if (p.errorCode !== 0) throw new Error(`fetch ${topic}-${partition} at ${offset}: error ${p.errorCode}`);
    const records = await decodeRecords(partition, p.records);
    for (const r of records) if (r.offset >= offset) out.push(r);
    if (records.length > 0) offset = records[records.length - 1].offset + 1n;
    if (offset >= p.highWatermark) return out;
    if (records.length === 0) throw new Error(`no progress at ${topic}-${partition} offset ${offset}`);
  }
  throw new Error(`partition ${topic}-${partition} not read within ${maxRounds} fetches`);
}

// ---------------------------------------------------------------------------------------------
// kafkajs compression plug-ins

const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/** Raw or xerial-framed (as Java writes it) snappy, bounded by the input's own block lengths. */
function snappyDecode(buf: Buffer): Buffer {
  if (buf.length < 16 || !buf.subarray(0, 8).equals(XERIAL_MAGIC)) return snappyUncompress(buf) as Buffer;
  const parts: Buffer[] = [];
  let at = 16;
  while (at + 4 <= buf.length) {
    const n = buf.readInt32BE(at);
    at += 4;
    if (n <= 0 || at + n > buf.length) throw new Error('snappy: bad xerial block length');
    parts.push(snappyUncompress(buf.subarray(at, at + n)) as Buffer);
    at += n;
  }
  return Buffer.concat(parts);
}

type KafkajsCodec = () => {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
};

/** Plugs snappy, LZ4 (frame format) and ZSTD into kafkajs's codec registry. */
export function registerKafkajsCodecs(registry: Record<number, KafkajsCodec>, types: Record<string, number>): void {
  registry[types.Snappy] = () => ({
    compress: async (e) => snappyCompress(e.buffer),
    decompress: async (b) => snappyDecode(b),
  });
  registry[types.LZ4] = () => ({
    compress: async (e) => compressFrame(e.buffer),
    decompress: async (b) => decompressFrame(b),
  });
  registry[types.ZSTD] = () => ({
    compress: async (e) => zstdCompress(e.buffer, 3),
    decompress: async (b) => zstdDecompress(b),
  });
}
