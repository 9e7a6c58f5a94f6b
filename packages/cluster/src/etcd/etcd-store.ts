import { randomBytes } from 'node:crypto';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { ConsecutiveBreaker, circuitBreaker, ExponentialBackoff, handleWhen, retry } from 'cockatiel';
import type { Etcd3, IKeyValue, IOperation, Namespace, Watcher } from 'etcd3';
import { RecordReader } from '../codec.js';
import { allocateProducerIdBlock } from '../controller/producer-ids.js';
import { checkNewPartitions, checkPartitionUpdate, existingTopic } from '../embedded-store.js';
import { MetadataConflictError, MetadataUnavailableError } from '../errors.js';
import { ClusterImage, type MetadataChange, type MetadataImage, type SecurityRecordChange } from '../image.js';
import type {
  BrokerConfigTarget,
  BrokerRegistration,
  BrokerRegistrationRequest,
  ControllerRecord,
  PartitionRecord,
  ProducerIdBlock,
  TopicRecord,
} from '../model.js';
import type { ChangeListener, MetadataStore, PartitionUpdate, RegistrationCheck, WriteFence } from '../store.js';
import { applyKv, KEYS, partitionValue, type StoredKv, topicValue } from './keys.js';
import { RegistrationLease } from './registration-lease.js';

export interface EtcdStoreOptions {
  /** etcd client URLs, e.g. ['http://127.0.0.1:2379']. */
  endpoints: string[];
  /** The cluster to join; absent: the one recorded under `<root>/default-cluster-id` (made on first use). */
  clusterId?: string | null;
  /** The key prefix of every Sluice cluster in this etcd. */
  root?: string;
  /** A broker registration lives this long without a heartbeat (Kafka's broker.session.timeout.ms is 9 s). */
  leaseTtlSeconds?: number;
  /** Each etcd call fails after this long (then MetadataUnavailableError). */
  requestTimeoutMs?: number;
  /** etcd's --max-txn-ops (128 by default): writes are cut into transactions that fit. */
  maxTxnOps?: number;
  /** Told about keys that do not decode and watch trouble (default: console.warn); the store carries on. */
  onProblem?: (error: Error) => void;
}

const CLUSTER_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** A whole-prefix read is one response; past this the store refuses to load rather than grow without bound. */
const MAX_READ_BYTES = 256 << 20;
const MAX_CAS_ATTEMPTS = 20;

type Compare = [key: string, target: 'Version' | 'Create' | 'Mod', value: number];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

function kvOf(kv: IKeyValue): StoredKv {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value.toString('utf8'),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  };
}

/**
 * The cluster store on etcd. Every broker keeps the whole key space of its cluster in a local
 * cache, fed by one watch; a watch that breaks or is compacted away is replaced after a full
 * re-read. Every write is an etcd transaction that compares what the writer based it on (mod
 * revisions, the writer's controller or broker registration), so a stale writer cannot land.
 */
export class EtcdMetadataStore implements MetadataStore {
  readonly kind = 'etcd' as const;
  private readonly current: ClusterImage;
  /** Revisions of every key in the cache: what writes compare against. */
  private readonly revs = new Map<string, { create: number; mod: number }>();
  private readonly listeners = new Set<ChangeListener>();
  private readonly fencedListeners = new Set<(registration: BrokerRegistration) => void>();
  private revisionWaiters: { revision: number; resolve: () => void }[] = [];
  private watcher: Watcher | null = null;
  private resync: Promise<void> | null = null;
  private lease: RegistrationLease | null = null;
  private leaseAliveUntil = 0;
  private registrationRequest: BrokerRegistrationRequest | null = null;
  private registration: BrokerRegistration | null = null;
  /** The last registration this process held (kept while it registers again, for checkRegistration). */
  private lastRegistration: BrokerRegistration | null = null;
  /** The last answer of etcd on checkRegistration, shared by concurrent callers. */
  private registrationProbe: {
    at: number;
    result: Promise<RegistrationCheck>;
    settled: RegistrationCheck | null;
  } | null = null;
  private controllerEpoch: number | null = null;
  private closed = false;
  private readonly ttl: number;
  private readonly timeoutMs: number;
  private readonly chunk: number;
  private readonly onProblem: (error: Error) => void;

  private constructor(
    private readonly client: Etcd3,
    private readonly ns: Namespace,
    readonly clusterId: string,
    private readonly options: EtcdStoreOptions,
  ) {
    this.current = new ClusterImage(clusterId);
    this.ttl = options.leaseTtlSeconds ?? 10;
    this.timeoutMs = options.requestTimeoutMs ?? 5000;
    // One compare is the writer's fence; the rest pair one compare with one put each.
    this.chunk = (options.maxTxnOps ?? 128) - 1;
    // Never silent: a skipped key or a broken watch is worth a line somewhere.
    this.onProblem = options.onProblem ?? ((error) => console.warn(`@sluice/cluster: ${error.message}`));
  }

  /** Connects, finds (or makes) the cluster, reads its key space and starts watching it. */
  static async open(options: EtcdStoreOptions): Promise<EtcdMetadataStore> {
    const timeoutMs = options.requestTimeoutMs ?? 5000;
    // Loaded here, not at the top: etcd3 brings gRPC and parses its .proto files as it loads
    // (~0.15 s), which a single-node broker, which never opens this store, should not pay at start-up.
    const { Etcd3, isRecoverableError } = await import('etcd3');
    const client = new Etcd3({
      hosts: options.endpoints,
      dialTimeout: timeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
      grpcOptions: { 'grpc.max_receive_message_length': MAX_READ_BYTES },
      // The client's defaults stop talking to a failed member for 5 s and back watches off up to
      // 30 s; metadata should be back within a second or two of etcd.
      faultHandling: {
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 3 }),
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }).next(),
      },
    });
    try {
      const root = client.namespace(`${(options.root ?? '/sluice').replace(/\/+$/, '')}/`);
      const clusterId = await wrap(options.endpoints, () => resolveClusterId(root, options.clusterId ?? null));
      const store = new EtcdMetadataStore(client, root.namespace(`${clusterId}/`), clusterId, options);
      await store.reload();
      await store.startWatch(store.current.revision + 1);
      return store;
    } catch (err) {
      client.close();
      throw err;
    }
  }

  get image(): MetadataImage {
    return this.current;
  }

  /** The local broker's registration, or null (not registered, or fenced and not yet back). */
  get localRegistration(): BrokerRegistration | null {
    return this.registration;
  }

  /**
   * Until when the registration is surely alive: one lease TTL after the last heartbeat etcd
   * answered. A leader past this may have been fenced without hearing of it yet.
   */
  get registrationAliveUntil(): number {
    return this.registration ? this.leaseAliveUntil : 0;
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onFenced(listener: (registration: BrokerRegistration) => void): () => void {
    this.fencedListeners.add(listener);
    return () => this.fencedListeners.delete(listener);
  }

  checkRegistration(): RegistrationCheck | Promise<RegistrationCheck> {
    const now = Date.now();
    if (this.registration && now <= this.leaseAliveUntil) return 'current';
    // Past the lease's sure life: the process may have been stopped while etcd let the lease run
    // out and the controller moved leaderships; its cache may not show that yet. Ask etcd, at most
    // one question at a time, and use an answer for a short while (never a lease's life: an answer
    // from before a stop is no answer).
    const maxAgeMs = Math.min(1000, (this.ttl * 1000) / 3);
    const probe = this.registrationProbe;
    if (probe && now - probe.at <= maxAgeMs) return probe.settled ?? probe.result;
    // etcd did not answer the last question either: go on with the cached metadata, and ask again.
    const stillUnreachable = probe?.settled === 'unreachable' && now - probe.at <= 2 * maxAgeMs;
    const next = { at: now, settled: null as RegistrationCheck | null, result: this.probeRegistration() };
    void next.result.then((r) => {
      next.settled = r;
    });
    this.registrationProbe = next;
    return stillUnreachable ? 'unreachable' : next.result;
  }

  /** Whether etcd holds this process's registration (its last one, while it registers again). */
  private async probeRegistration(): Promise<RegistrationCheck> {
    const reg = this.registration ?? this.lastRegistration;
    if (!reg || this.closed) return 'fenced';
    const deadline = Date.now() + Math.min(1000, this.timeoutMs);
    try {
      const res = await this.ns.get(KEYS.broker(reg.nodeId)).options({ deadline }).exec();
      const kv = res.kvs[0];
      return kv && Number(kv.create_revision) === reg.brokerEpoch ? 'current' : 'fenced';
    } catch {
      return 'unreachable';
    }
  }

  // ---- the cache ----

  private emit(changes: MetadataChange[]): void {
    if (changes.length === 0) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(changes, this.current);
      } catch (err) {
        this.onProblem(err as Error);
      }
    }
  }

  private setRevision(revision: number): void {
    if (revision <= this.current.revision) return;
    this.current.revision = revision;
    const ready = this.revisionWaiters.filter((w) => w.revision <= revision);
    if (ready.length === 0) return;
    this.revisionWaiters = this.revisionWaiters.filter((w) => w.revision > revision);
    for (const w of ready) w.resolve();
  }

  /** Resolves once the cache reflects `revision` (a write of ours), or after the request timeout. */
  private waitForRevision(revision: number): Promise<void> {
    if (this.current.revision >= revision || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = { revision, resolve: () => {} };
      const timer = setTimeout(() => {
        this.revisionWaiters = this.revisionWaiters.filter((w) => w !== waiter);
        // The watch is behind or broken: a re-read catches the cache up.
        this.scheduleResync();
        resolve();
      }, this.timeoutMs);
      waiter.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
      this.revisionWaiters.push(waiter);
    });
  }

  private applyOne(kv: StoredKv, deleted: boolean, out: MetadataChange[]): void {
    if (deleted) this.revs.delete(kv.key);
    else this.revs.set(kv.key, { create: kv.createRevision, mod: kv.modRevision });
    try {
      applyKv(this.current, kv, deleted, out);
    } catch (err) {
      this.onProblem(err as Error);
    }
  }

  /** Reads the whole key space at one revision and makes the cache equal to it. */
  private async reload(): Promise<void> {
    const res = await this.call(() => this.ns.getAll().exec());
    const fresh = new ClusterImage(this.clusterId);
    const revs = new Map<string, { create: number; mod: number }>();
    for (const raw of res.kvs) {
      const kv = kvOf(raw);
      revs.set(kv.key, { create: kv.createRevision, mod: kv.modRevision });
      try {
        applyKv(fresh, kv, false, []);
      } catch (err) {
        this.onProblem(err as Error);
      }
    }
    const revision = Number(res.header.revision);
    if (revision < this.current.revision) return; // the watch is ahead already
    fresh.revision = revision;
    this.revs.clear();
    for (const [k, v] of revs) this.revs.set(k, v);
    const out: MetadataChange[] = [];
    this.current.replaceWith(fresh, out);
    this.current.revision = 0;
    this.setRevision(revision);
    this.emit(out);
  }

  private async startWatch(fromRevision: number): Promise<void> {
    const watcher = await this.call(() => this.ns.watch().prefix('').startRevision(String(fromRevision)).create());
    if (this.closed) {
      await watcher.cancel().catch(() => {});
      return;
    }
    this.watcher = watcher;
    let disconnected = false;
    watcher.on('data', (res) => {
      const out: MetadataChange[] = [];
      let last = this.current.revision;
      for (const ev of res.events) {
        const kv = kvOf(ev.kv);
        // Events the last full read already holds are skipped.
        if (kv.modRevision <= this.current.revision) continue;
        this.applyOne(kv, ev.type === 'Delete', out);
        last = Math.max(last, kv.modRevision);
      }
      this.setRevision(last);
      this.emit(out);
    });
    watcher.on('disconnected', () => {
      disconnected = true;
    });
    watcher.on('connected', () => {
      // The client re-creates the watch itself; a re-read closes any gap it may have left.
      if (disconnected) {
        disconnected = false;
        this.scheduleResync();
      }
    });
    watcher.on('error', (err: Error) => {
      // Cancelled by etcd, typically because the revision was compacted away.
      if (this.watcher === watcher) this.watcher = null;
      this.onProblem(
        new Error(`metadata watch cancelled by etcd (${err.message}; its revision compacted away?): re-reading`),
      );
      this.scheduleResync();
    });
  }

  private scheduleResync(): void {
    if (this.resync || this.closed) return;
    this.resync = (async () => {
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          await this.reload();
          if (!this.watcher && !this.closed) await this.startWatch(this.current.revision + 1);
          return;
        } catch (err) {
          if (attempt === 0) this.onProblem(err as Error);
          await sleep(Math.min(1000, 100 * 2 ** attempt));
        }
      }
    })().finally(() => {
      this.resync = null;
    });
  }

  // ---- etcd calls ----

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new MetadataUnavailableError('the metadata store is closed');
    return wrap(this.options.endpoints, fn);
  }

  /** One transaction: all compares hold → the operations run. Returns null when a compare failed. */
  private async txn(compares: Compare[], ops: IOperation[], elseOps: IOperation[] = []) {
    return this.call(async () => {
      const [first, ...rest] = compares;
      let builder = this.ns.if(first[0], first[1], '==', first[2]);
      for (const c of rest) builder = builder.and(c[0], c[1], '==', c[2]);
      return builder
        .then(...ops)
        .else(...elseOps)
        .commit();
    });
  }

  private fenceCompare(fence: WriteFence): Compare {
    return fence.kind === 'controller'
      ? [KEYS.controller, 'Create', fence.controllerEpoch]
      : [KEYS.broker(fence.nodeId), 'Create', fence.brokerEpoch];
  }

  /** After a failed compare: the fence's own error if the writer is stale, else `otherwise`. */
  private async conflict(fence: WriteFence | null, otherwise: MetadataConflictError): Promise<MetadataConflictError> {
    if (!fence) return otherwise;
    const [key, , expected] = this.fenceCompare(fence);
    const res = await this.call(() => this.ns.get(key).exec());
    const kv = res.kvs[0];
    const createRevision = kv ? Number(kv.create_revision) : 0;
    if (createRevision === expected) return otherwise;
    return fence.kind === 'controller'
      ? new MetadataConflictError(
          ERROR_CODES.NOT_CONTROLLER,
          `Node ${fence.nodeId} (controller epoch ${fence.controllerEpoch}) is not the active controller.`,
        )
      : new MetadataConflictError(
          ERROR_CODES.STALE_BROKER_EPOCH,
          `Broker epoch ${fence.brokerEpoch} of node ${fence.nodeId} is stale.`,
        );
  }

  // ---- brokers ----

  async registerBroker(request: BrokerRegistrationRequest): Promise<BrokerRegistration> {
    if (this.registration) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REQUEST,
        `this store already registered node ${this.registration.nodeId}`,
      );
    }
    this.registrationRequest = request;
    return this.register(request);
  }

  private async register(request: BrokerRegistrationRequest): Promise<BrokerRegistration> {
    const lease = await this.call(() => RegistrationLease.grant(this.client, this.ttl));
    const leaseId = lease.id;
    const key = KEYS.broker(request.nodeId);
    const value = JSON.stringify({
      incarnationId: request.incarnationId,
      listeners: request.listeners,
      rack: request.rack,
      inControlledShutdown: false,
    });
    // Another process's registration under this id may be a crashed predecessor whose lease has
    // not run out yet: wait that long before refusing.
    const deadline = Date.now() + this.ttl * 1000 + 2000;
    try {
      for (;;) {
        const res = await this.txn(
          [[key, 'Version', 0]],
          [this.ns.put(key).value(value).lease(leaseId)],
          [this.ns.get(key)],
        );
        if (res.succeeded) {
          return await this.holdRegistration(lease, {
            ...request,
            brokerEpoch: Number(res.header.revision),
            inControlledShutdown: false,
          });
        }
        const existing = res.responses[0]?.response_range?.kvs[0];
        if (existing) {
          let incarnation: unknown;
          try {
            incarnation = (JSON.parse(existing.value.toString('utf8')) as { incarnationId?: unknown }).incarnationId;
          } catch {}
          if (incarnation === request.incarnationId) {
            const epoch = Number(existing.create_revision);
            if (epoch === this.lastRegistration?.brokerEpoch) {
              // Our registration outlived the lease this process held it with (etcd still has the
              // key though we saw the lease end): nobody was fenced.
              // Move it to the new lease in place — same create revision, same broker epoch — so
              // that no leadership moves for an outage nobody could act on.
              const kept = await this.txn(
                [
                  [key, 'Create', epoch],
                  [key, 'Mod', Number(existing.mod_revision)],
                ],
                [this.ns.put(key).value(value).lease(leaseId)],
              );
              if (kept.succeeded) {
                return await this.holdRegistration(lease, {
                  ...request,
                  brokerEpoch: epoch,
                  inControlledShutdown: false,
                });
              }
              continue;
            }
            // An older registration of ours whose epoch we no longer hold: replace it, new epoch.
            await this.txn([[key, 'Mod', Number(existing.mod_revision)]], [this.ns.delete().key(key)]);
            continue;
          }
        }
        if (Date.now() > deadline) {
          throw new MetadataConflictError(
            ERROR_CODES.DUPLICATE_BROKER_REGISTRATION,
            `Node ${request.nodeId} is registered by another live process.`,
          );
        }
        await sleep(250);
      }
    } catch (err) {
      await lease.revoke().catch(() => lease.release());
      throw err;
    }
  }

  /** Keeps `lease` alive as the registration's from now on. */
  private async holdRegistration(
    lease: RegistrationLease,
    registration: BrokerRegistration,
  ): Promise<BrokerRegistration> {
    this.lease = lease;
    this.leaseAliveUntil = Date.now() + this.ttl * 1000;
    lease.keepAlive(
      () => {
        this.leaseAliveUntil = Date.now() + this.ttl * 1000;
      },
      (err) => this.leaseLost(lease, err),
    );
    this.registration = registration;
    this.lastRegistration = registration;
    await this.waitForRevision(registration.brokerEpoch);
    return registration;
  }

  private leaseLost(lease: RegistrationLease, err: Error): void {
    if (lease !== this.lease || this.closed) return;
    const registration = this.registration;
    this.lease = null;
    this.registration = null;
    this.controllerEpoch = null;
    this.onProblem(new Error(`broker registration lost: ${err.message}`));
    if (registration) {
      for (const listener of [...this.fencedListeners]) {
        try {
          listener(registration);
        } catch (e) {
          this.onProblem(e as Error);
        }
      }
    }
    void this.reregister();
  }

  /** After a lapse, registers again (a new broker epoch) as soon as etcd lets it. */
  private async reregister(): Promise<void> {
    for (let attempt = 0; !this.closed && !this.registration && this.registrationRequest; attempt++) {
      try {
        await this.register(this.registrationRequest);
        return;
      } catch (err) {
        if (attempt === 0) this.onProblem(err as Error);
        await sleep(Math.min(1000, 100 * 2 ** attempt));
      }
    }
  }

  async setControlledShutdown(nodeId: number, brokerEpoch: number, inControlledShutdown: boolean): Promise<void> {
    const reg = this.requireRegistration(nodeId, brokerEpoch);
    const key = KEYS.broker(nodeId);
    const value = JSON.stringify({
      incarnationId: reg.incarnationId,
      listeners: reg.listeners,
      rack: reg.rack,
      inControlledShutdown,
    });
    if (!this.lease) throw staleBroker(nodeId, brokerEpoch);
    const leaseId = this.lease.id;
    const res = await this.txn([[key, 'Create', brokerEpoch]], [this.ns.put(key).value(value).lease(leaseId)]);
    if (!res.succeeded)
      throw await this.conflict({ kind: 'broker', nodeId, brokerEpoch }, staleBroker(nodeId, brokerEpoch));
    this.registration = { ...reg, inControlledShutdown };
    await this.waitForRevision(Number(res.header.revision));
  }

  async unregisterBroker(nodeId: number, brokerEpoch: number): Promise<void> {
    this.requireRegistration(nodeId, brokerEpoch);
    await this.resign();
    const key = KEYS.broker(nodeId);
    const res = await this.txn([[key, 'Create', brokerEpoch]], [this.ns.delete().key(key)]);
    const lease = this.lease;
    this.registrationRequest = null;
    this.registration = null;
    this.lease = null;
    await lease?.revoke().catch(() => lease.release());
    if (res.succeeded) await this.waitForRevision(Number(res.header.revision));
  }

  private requireRegistration(nodeId: number, brokerEpoch: number): BrokerRegistration {
    const reg = this.registration;
    if (!reg || reg.nodeId !== nodeId) {
      throw new MetadataConflictError(
        ERROR_CODES.BROKER_ID_NOT_REGISTERED,
        `Node ${nodeId} is not registered by this process.`,
      );
    }
    if (reg.brokerEpoch !== brokerEpoch) throw staleBroker(nodeId, brokerEpoch);
    return reg;
  }

  // ---- the controller election ----

  async campaign(nodeId: number, signal?: AbortSignal): Promise<ControllerRecord> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) throw new MetadataUnavailableError('the metadata store is closed');
      signal?.throwIfAborted();
      const reg = this.registration;
      if (!reg || reg.nodeId !== nodeId || !this.lease) {
        throw new MetadataConflictError(
          ERROR_CODES.BROKER_ID_NOT_REGISTERED,
          `Node ${nodeId} is not registered by this process.`,
        );
      }
      try {
        const leaseId = this.lease.id;
        const res = await this.txn(
          [
            [KEYS.controller, 'Version', 0],
            [KEYS.broker(nodeId), 'Create', reg.brokerEpoch],
          ],
          [this.ns.put(KEYS.controller).value(JSON.stringify({ nodeId })).lease(leaseId)],
        );
        if (res.succeeded) {
          const epoch = Number(res.header.revision);
          this.controllerEpoch = epoch;
          await this.waitForRevision(epoch);
          return { nodeId, controllerEpoch: epoch };
        }
        // Someone holds it: wait until the cache sees the key go (lease lapse or resignation).
        await this.until(() => this.current.controller === null, 1000, signal);
      } catch (err) {
        if (!(err instanceof MetadataUnavailableError)) throw err;
        await sleep(Math.min(1000, 100 * 2 ** attempt));
      }
    }
  }

  /** Resolves when `condition` holds after a change, or after `ms`, or rejects on abort. */
  private until(condition: () => boolean, ms: number, signal?: AbortSignal): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', aborted);
      };
      const aborted = () => {
        done();
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        done();
        resolve();
      }, ms);
      const off = this.onChange(() => {
        if (condition()) {
          done();
          resolve();
        }
      });
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  async resign(): Promise<void> {
    const epoch = this.controllerEpoch;
    if (epoch === null) return;
    this.controllerEpoch = null;
    const res = await this.txn([[KEYS.controller, 'Create', epoch]], [this.ns.delete().key(KEYS.controller)]);
    if (res.succeeded) await this.waitForRevision(Number(res.header.revision));
  }

  // ---- topics and partitions ----

  async createTopic(topic: TopicRecord, partitions: readonly PartitionRecord[], fence: WriteFence): Promise<void> {
    if (this.current.topics.has(topic.name)) {
      throw new MetadataConflictError(ERROR_CODES.TOPIC_ALREADY_EXISTS, `Topic '${topic.name}' already exists.`);
    }
    checkNewPartitions(topic.topicId, 0, topic.partitionCount, partitions);
    const fenceCmp = this.fenceCompare(fence);
    try {
      await this.putNewPartitions(partitions, fenceCmp, fence);
      const key = KEYS.topic(topic.name);
      const res = await this.txn([fenceCmp, [key, 'Version', 0]], [this.ns.put(key).value(topicValue(topic))]);
      if (!res.succeeded) {
        throw await this.conflict(
          fence,
          new MetadataConflictError(ERROR_CODES.TOPIC_ALREADY_EXISTS, `Topic '${topic.name}' already exists.`),
        );
      }
      await this.waitForRevision(Number(res.header.revision));
    } catch (err) {
      // Partition records without their topic record are invisible; remove them so the id stays free.
      await this.txn(
        [[KEYS.topic(topic.name), 'Version', 0]],
        [this.ns.delete().prefix(KEYS.partitionsOf(topic.topicId))],
      ).catch(() => {});
      throw err;
    }
  }

  /** Writes partition records that must not exist yet, in transactions of at most `chunk`. */
  private async putNewPartitions(
    partitions: readonly PartitionRecord[],
    fenceCmp: Compare,
    fence: WriteFence,
  ): Promise<void> {
    for (let i = 0; i < partitions.length; i += this.chunk) {
      const slice = partitions.slice(i, i + this.chunk);
      const keys = slice.map((p) => KEYS.partition(p.topicId, p.partition));
      const res = await this.txn(
        [fenceCmp, ...keys.map((k): Compare => [k, 'Version', 0])],
        slice.map((p, j) => this.ns.put(keys[j]).value(partitionValue(p))),
      );
      if (!res.succeeded) {
        throw await this.conflict(
          fence,
          new MetadataConflictError(
            ERROR_CODES.INVALID_UPDATE_VERSION,
            `Partition records of topic id ${slice[0].topicId} exist already.`,
          ),
        );
      }
    }
  }

  async addPartitions(
    name: string,
    topicId: string,
    partitions: readonly PartitionRecord[],
    fence: WriteFence,
  ): Promise<void> {
    const topic = existingTopic(this.current, name, topicId);
    const from = topic.partitionCount;
    checkNewPartitions(topicId, from, from + partitions.length, partitions);
    const key = KEYS.topic(name);
    const topicRev = this.revs.get(key)?.mod ?? 0;
    const fenceCmp = this.fenceCompare(fence);
    try {
      await this.putNewPartitions(partitions, fenceCmp, fence);
      const grown: TopicRecord = { ...topic, partitionCount: from + partitions.length };
      const res = await this.txn([fenceCmp, [key, 'Mod', topicRev]], [this.ns.put(key).value(topicValue(grown))]);
      if (!res.succeeded) {
        throw await this.conflict(
          fence,
          new MetadataConflictError(ERROR_CODES.INVALID_UPDATE_VERSION, `Topic '${name}' changed meanwhile.`),
        );
      }
      await this.waitForRevision(Number(res.header.revision));
    } catch (err) {
      for (let i = 0; i < partitions.length; i += this.chunk) {
        const ops = partitions
          .slice(i, i + this.chunk)
          .map((p) => this.ns.delete().key(KEYS.partition(topicId, p.partition)));
        await this.txn([[key, 'Mod', topicRev]], ops).catch(() => {});
      }
      throw err;
    }
  }

  async setTopicConfigs(
    name: string,
    topicId: string,
    configs: Record<string, string>,
    fence: WriteFence,
  ): Promise<void> {
    const topic = existingTopic(this.current, name, topicId);
    const key = KEYS.topic(name);
    const res = await this.txn(
      [this.fenceCompare(fence), [key, 'Mod', this.revs.get(key)?.mod ?? 0]],
      [this.ns.put(key).value(topicValue({ ...topic, configs: { ...configs } }))],
    );
    if (!res.succeeded)
      throw await this.conflict(
        fence,
        new MetadataConflictError(ERROR_CODES.INVALID_UPDATE_VERSION, `Topic '${name}' changed meanwhile.`),
      );
    await this.waitForRevision(Number(res.header.revision));
  }

  async deleteTopic(name: string, topicId: string, fence: WriteFence): Promise<void> {
    existingTopic(this.current, name, topicId);
    const key = KEYS.topic(name);
    // One transaction whatever the partition count: the partitions go as one prefix delete.
    const res = await this.txn(
      [this.fenceCompare(fence), [key, 'Mod', this.revs.get(key)?.mod ?? 0]],
      [this.ns.delete().key(key), this.ns.delete().prefix(KEYS.partitionsOf(topicId))],
    );
    if (!res.succeeded)
      throw await this.conflict(
        fence,
        new MetadataConflictError(ERROR_CODES.INVALID_UPDATE_VERSION, `Topic '${name}' changed meanwhile.`),
      );
    await this.waitForRevision(Number(res.header.revision));
  }

  async alterPartitions(updates: readonly PartitionUpdate[], fence: WriteFence): Promise<void> {
    const fenceCmp = this.fenceCompare(fence);
    let applied = 0;
    for (let i = 0; i < updates.length; i += this.chunk) {
      const slice = updates.slice(i, i + this.chunk);
      const compares: Compare[] = [fenceCmp];
      const ops: IOperation[] = [];
      for (const u of slice) {
        checkPartitionUpdate(u, this.current.partition(u.next.topicId, u.next.partition));
        const key = KEYS.partition(u.next.topicId, u.next.partition);
        compares.push([key, 'Mod', this.revs.get(key)?.mod ?? 0]);
        ops.push(this.ns.put(key).value(partitionValue(u.next)));
      }
      const res = await this.txn(compares, ops);
      if (!res.succeeded) {
        const suffix = applied > 0 ? ` (${applied} earlier update(s) were applied)` : '';
        throw await this.conflict(
          fence,
          new MetadataConflictError(ERROR_CODES.INVALID_UPDATE_VERSION, `A partition changed meanwhile${suffix}.`),
        );
      }
      applied += slice.length;
      await this.waitForRevision(Number(res.header.revision));
    }
  }

  // ---- configs and producer ids ----

  async setBrokerConfigs(target: BrokerConfigTarget, configs: Record<string, string>): Promise<void> {
    const key = KEYS.brokerConfigs(String(target));
    const res = await this.call<{ header: { revision: string } }>(() =>
      Object.keys(configs).length === 0
        ? this.ns.delete().key(key).exec()
        : this.ns.put(key).value(JSON.stringify({ configs })).exec(),
    );
    await this.waitForRevision(Number(res.header.revision));
  }

  async setSecurityRecords(changes: readonly SecurityRecordChange[]): Promise<void> {
    // In chunks of etcd's operations per transaction; each chunk applies whole.
    for (let i = 0; i < changes.length; i += this.chunk) {
      const chunk = changes.slice(i, i + this.chunk);
      const ops: IOperation[] = chunk.map((c) => {
        const key = KEYS.security(c.kind, c.key);
        return c.value === null ? this.ns.delete().key(key) : this.ns.put(key).value(c.value);
      });
      const res = await this.call(() => {
        let builder = this.ns.if(KEYS.cluster, 'Version', '>', 0);
        for (const c of chunk) {
          if (c.expected === undefined) continue;
          const key = KEYS.security(c.kind, c.key);
          builder =
            c.expected === null ? builder.and(key, 'Version', '==', 0) : builder.and(key, 'Value', '==', c.expected);
        }
        return builder.then(...ops).commit();
      });
      if (!res.succeeded && chunk.some((c) => c.expected !== undefined)) {
        throw new MetadataConflictError(ERROR_CODES.INVALID_UPDATE_VERSION, 'a security record changed meanwhile');
      }
      await this.waitForRevision(Number(res.header.revision));
    }
  }

  async allocateProducerIds(nodeId: number, brokerEpoch: number): Promise<ProducerIdBlock> {
    const fence: WriteFence = { kind: 'broker', nodeId, brokerEpoch };
    let next = this.current.nextProducerId;
    let mod = this.revs.get(KEYS.producerIds)?.mod ?? 0;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { block, nextProducerId } = allocateProducerIdBlock(next, nodeId);
      const res = await this.txn(
        [this.fenceCompare(fence), mod === 0 ? [KEYS.producerIds, 'Version', 0] : [KEYS.producerIds, 'Mod', mod]],
        [this.ns.put(KEYS.producerIds).value(JSON.stringify({ nextProducerId: nextProducerId.toString() }))],
        [this.ns.get(KEYS.producerIds)],
      );
      if (res.succeeded) {
        await this.waitForRevision(Number(res.header.revision));
        return block;
      }
      const kv = res.responses[0]?.response_range?.kvs[0];
      if (kv && Number(kv.mod_revision) !== mod) {
        // Another broker took a block first: start from its end.
        // (Keys in transaction answers keep the namespace prefix: read the value, not the key.)
        next = RecordReader.parse(KEYS.producerIds, kv.value.toString('utf8')).bigint('nextProducerId');
        mod = Number(kv.mod_revision);
        continue;
      }
      throw await this.conflict(fence, staleBroker(nodeId, brokerEpoch));
    }
    throw new MetadataConflictError(
      ERROR_CODES.INVALID_UPDATE_VERSION,
      `No producer-id block after ${MAX_CAS_ATTEMPTS} attempts.`,
    );
  }

  /**
   * Stops watching and heartbeating without deregistering: the registration lapses with its lease
   * (as if the process died). Use `unregisterBroker` first for a clean shutdown.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.fencedListeners.clear();
    for (const w of this.revisionWaiters) w.resolve();
    this.revisionWaiters = [];
    this.lease?.release();
    this.lease = null;
    const watcher = this.watcher;
    this.watcher = null;
    await watcher?.cancel().catch(() => {});
    this.client.close();
  }
}

function staleBroker(nodeId: number, brokerEpoch: number): MetadataConflictError {
  return new MetadataConflictError(
    ERROR_CODES.STALE_BROKER_EPOCH,
    `Broker epoch ${brokerEpoch} of node ${nodeId} is stale.`,
  );
}

/** etcd errors become MetadataUnavailableError; Sluice's own errors pass through. */
async function wrap<T>(endpoints: readonly string[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof KafkaError) throw err;
    throw new MetadataUnavailableError(`etcd (${endpoints.join(', ')}) did not answer: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function resolveClusterId(root: Namespace, configured: string | null): Promise<string> {
  let clusterId = configured;
  if (clusterId === null) {
    const fresh = newClusterId();
    const res = await root
      .if('default-cluster-id', 'Version', '==', 0)
      .then(root.put('default-cluster-id').value(fresh))
      .else(root.get('default-cluster-id'))
      .commit();
    clusterId = res.succeeded ? fresh : (res.responses[0]?.response_range?.kvs[0]?.value.toString('utf8') ?? '');
  }
  if (!CLUSTER_ID.test(clusterId))
    throw new KafkaError(
      ERROR_CODES.INVALID_REQUEST,
      `cluster id '${clusterId}' is not 1-64 characters of [A-Za-z0-9_-]`,
    );
  const marker = `${clusterId}/${KEYS.cluster}`;
  await root
    .if(marker, 'Version', '==', 0)
    .then(root.put(marker).value(JSON.stringify({ clusterId })))
    .commit();
  return clusterId;
}
