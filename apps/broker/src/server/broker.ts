import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BrokerRegistration,
  ClusterController,
  DEFAULT_BROKER_CONFIG_KEY,
  EmbeddedMetadataStore,
  type MetadataImage,
  type MetadataStore,
  ProducerIdAllocator,
  type WriteFence,
} from '@sluice/cluster/core';
import { LogManager } from '@sluice/log';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { alterConfigsHandler, incrementalAlterConfigsHandler } from '../apis/alter-configs.js';
import { apiVersionsHandler } from '../apis/api-versions.js';
import { describeClusterHandler, describeLogDirsHandler, describeProducersHandler } from '../apis/cluster.js';
import { leadsPartition } from '../apis/cluster-view.js';
import { createPartitionsHandler } from '../apis/create-partitions.js';
import { createTopicsHandler } from '../apis/create-topics.js';
import { deleteRecordsHandler } from '../apis/delete-records.js';
import { deleteTopicsHandler } from '../apis/delete-topics.js';
import { describeConfigsHandler } from '../apis/describe-configs.js';
import { fetchHandler } from '../apis/fetch.js';
import { createGroupCoordinator, groupHandlers, OFFSETS_TOPIC } from '../apis/groups/index.js';
import { initProducerIdHandler } from '../apis/init-producer-id.js';
import { listOffsetsHandler } from '../apis/list-offsets.js';
import { metadataHandler } from '../apis/metadata.js';
import { offsetForLeaderEpochHandler } from '../apis/offset-for-leader-epoch.js';
import { produceHandler } from '../apis/produce.js';
import {
  type BrokerConfig,
  ConfigRegistry,
  type ConfigRegistryState,
  ConfigResourceType,
  createBrokerConfig,
} from '../config/index.js';
import { ConfigException } from '../config/types.js';
import { type BrokerLogger, brokerLogger, type Logger } from '../logger.js';
import type { BrokerMetrics, MetricsServer } from '../metrics.js';
import { AppendNotifier } from '../state/append-notifier.js';
import { FetchSessionCache } from '../state/fetch-sessions.js';
import { isStorageError, LogDirHealth } from '../state/log-dir-health.js';
import { saveProducerSnapshots, takeProducerSnapshots } from '../state/producer-snapshots.js';
import { ReplicationService } from '../state/replication.js';
import { logConfigFor, TopicManager } from '../state/topic-manager.js';
import { Connection } from './connection.js';
import { type ConnectionLimits, ConnectionQuotas, normalizeIp, parseIpOverrides } from './connection-quotas.js';
import type { BrokerContext } from './context.js';
import { type ApiHandler, Dispatcher } from './dispatcher.js';
import { LogLimiter } from './log-limiter.js';
import { RequestBudget } from './request-budget.js';

export interface StartBrokerOptions {
  /** A parsed configuration (the CLI builds one from flags, environment and file). */
  config?: BrokerConfig;
  /**
   * Kafka-named properties, used when `config` is not given. Unset, the broker listens on
   * 127.0.0.1 on an ephemeral port and stores its data in a new temporary directory, which
   * stop() removes.
   */
  props?: Record<string, string>;
  /**
   * Where the broker's log lines go: a pino logger, or any object with error/warn/info(/debug)
   * methods taking (fields, message). None: the broker logs nothing (the `sluice broker` command
   * passes its JSON logger on stdout).
   */
  logger?: Logger | BrokerLogger;
}

export interface RunningBroker {
  readonly host: string;
  readonly port: number;
  /** `host:port`, ready for a client's bootstrap servers. */
  readonly bootstrap: string;
  readonly clusterId: string;
  readonly dataDir: string;
  readonly context: BrokerContext;
  /** Stops accepting, finishes in-flight requests (bounded), flushes and closes the logs. */
  stop(): Promise<void>;
}

/** Requests read but not answered per connection before the broker stops reading from it. */
const MAX_IN_FLIGHT_PER_CONNECTION = 100;
/** How long stop() waits for in-flight requests before closing connections anyway. */
const SHUTDOWN_GRACE_MS = 5000;
/** How long a clean stop in a cluster waits for the controller to move this broker's leaderships away. */
const CONTROLLED_SHUTDOWN_WAIT_MS = 15_000;
const MAINTENANCE_INTERVAL_MS = 5000;
/** Failed accepts (out of descriptors) are logged at most this often, with how many there were. */
const ACCEPT_ERROR_LOG_INTERVAL_MS = 10_000;

/** Kafka-named props with the library defaults; `ownDir` is a temporary data dir made here (removed at stop). */
function defaultProps(props: Record<string, string> | undefined): { props: Record<string, string>; ownDir?: string } {
  const out = { ...(props ?? {}) };
  out.listeners ??= 'PLAINTEXT://127.0.0.1:0';
  if (out['log.dirs'] === undefined && out['log.dir'] === undefined) {
    const ownDir = mkdtempSync(join(tmpdir(), 'sluice-'));
    out['log.dirs'] = ownDir;
    return { props: out, ownDir };
  }
  return { props: out };
}

/**
 * The connection limits as configured now (they are dynamic). An overrides value that does not
 * parse (set through AlterConfigs) is logged once and the last good one kept.
 */
function connectionLimits(configs: ConfigRegistry, logger: Logger): () => ConnectionLimits {
  let overridesText: string | null = null;
  let overrides = new Map<string, number>();
  return () => {
    const text = configs.brokerValueString('max.connections.per.ip.overrides') ?? '';
    if (text !== overridesText) {
      overridesText = text;
      try {
        overrides = parseIpOverrides(text);
      } catch (err) {
        logger.error({ err }, 'max.connections.per.ip.overrides ignored');
      }
    }
    return {
      maxConnections: Number(configs.brokerValue('max.connections')),
      maxPerIp: Number(configs.brokerValue('max.connections.per.ip')),
      perIpOverrides: overrides,
    };
  };
}

/** As Kafka: the overrides parse, and a per-IP maximum of 0 comes with overrides (else nobody could connect). */
function checkConnectionLimits(config: BrokerConfig): void {
  let overrides: Map<string, number>;
  try {
    overrides = parseIpOverrides(config.get('max.connections.per.ip.overrides'));
  } catch (err) {
    throw new ConfigException((err as Error).message);
  }
  if (config.get('max.connections.per.ip') === 0 && overrides.size === 0) {
    throw new ConfigException(
      'max.connections.per.ip can be set to zero only if max.connections.per.ip.overrides is set',
    );
  }
}

/** The dynamic configs the metadata image holds, as the config registry keeps them. */
function configStateOf(image: MetadataImage, nodeId: number): ConfigRegistryState {
  const topics: Record<string, Record<string, string>> = {};
  for (const t of image.topics.values()) if (Object.keys(t.configs).length > 0) topics[t.name] = { ...t.configs };
  return {
    dynamicBroker: { ...image.brokerConfigs(nodeId) },
    dynamicDefault: { ...image.brokerConfigs(DEFAULT_BROKER_CONFIG_KEY) },
    topics,
  };
}

/** Starts a broker in this process and resolves once it accepts connections. */
export async function startBroker(options: StartBrokerOptions = {}): Promise<RunningBroker> {
  const defaults = options.config ? undefined : defaultProps(options.props);
  const config = options.config ?? createBrokerConfig(defaults!.props);
  checkConnectionLimits(config);
  const logger = brokerLogger(options.logger, config.logLevel);
  const dataDir = config.logDirs[0];
  const listener = config.listeners[0];
  // prom-client is loaded only when the endpoint is on (it is a seventh of the modules start-up
  // would load), and before anything is opened, so a failure to load leaves nothing behind.
  const metricsModule = config.metrics ? await import('../metrics.js') : undefined;

  const logDir = new LogDirHealth(dataDir, logger);
  const etcdEndpoints = config.get('metadata.etcd.endpoints');
  const embedded =
    etcdEndpoints === null
      ? EmbeddedMetadataStore.open({ dir: dataDir, nodeId: config.nodeId, clusterId: config.clusterId })
      : null;
  // The etcd client (gRPC) is loaded only for a cluster.
  const store: MetadataStore =
    embedded ??
    (await (
      await import('@sluice/cluster')
    ).EtcdMetadataStore.open({
      endpoints: etcdEndpoints!,
      clusterId: config.clusterId,
      // Kafka's broker.session.timeout.ms, when given, is how long the registration lease lasts.
      leaseTtlSeconds:
        config.props['broker.session.timeout.ms'] === undefined
          ? undefined
          : Math.max(1, Math.ceil(Number(config.props['broker.session.timeout.ms']) / 1000)),
      onProblem: (err) => logger.warn({ err }, 'etcd metadata'),
    }));
  const configs = new ConfigRegistry(config, configStateOf(store.image, config.nodeId));
  const logLogger = logger.child({ component: 'log' });
  const logs = LogManager.open(
    dataDir,
    {
      io: config.logIo,
      logger: { info: (m) => logLogger.info(m), warn: (m) => logLogger.warn(m), error: (m) => logLogger.error(m) },
    },
    { topicConfig: (topic) => logConfigFor(configs.topicConfig(topic)) },
  );
  // Written only now that the data directory's lock is held. On a full disk the broker starts
  // read-only rather than not at all.
  try {
    embedded?.save();
  } catch (err) {
    if (!logDir.noteError(err, 'start-up')) throw err;
  }
  let registration: BrokerRegistration | null = null;
  const storeLogger = logger.child({ component: 'metadata' });
  const brokerFence = (): WriteFence => {
    if (!registration) throw new KafkaError(ERROR_CODES.BROKER_NOT_AVAILABLE, 'The broker is not registered yet.');
    return { kind: 'broker', nodeId: registration.nodeId, brokerEpoch: registration.brokerEpoch };
  };
  const notifier = new AppendNotifier();
  const replication = new ReplicationService({
    nodeId: config.nodeId,
    store,
    notifier,
    fence: brokerFence,
    lagMaxMs: Number(configs.brokerValue('replica.lag.time.max.ms')),
    logger: logger.child({ component: 'replication' }),
    dataDir,
    checkpointIntervalMs: Number(configs.brokerValue('replica.high.watermark.checkpoint.interval.ms')),
  });
  const topics = new TopicManager(
    store,
    logs,
    configs,
    (partition) => {
      partition.log.onAppend(() => notifier.notify(partition));
      replication.attach(partition);
    },
    takeProducerSnapshots(dataDir),
    {
      nodeId: config.nodeId,
      fence: brokerFence,
      // A full disk takes the log dir offline with one line, not a stack trace per write.
      onError: (err, what) => {
        if (!logDir.noteError(err, what)) storeLogger.error({ err }, `metadata write failed: ${what}`);
      },
    },
  );
  replication.setTopics(topics);
  // Followers exist only in a cluster; the fetchers' client is loaded only there.
  const followerFetchers = embedded
    ? null
    : (await import('../state/follower-fetchers.js')).createFollowerFetchers({
        nodeId: config.nodeId,
        store,
        configs,
        logger: logger.child({ component: 'replica-fetcher' }),
      });
  if (followerFetchers) replication.setFollowerFetchers(followerFetchers);
  const allPartitions = function* () {
    for (const t of topics.all()) for (const p of t.partitions) if (p) yield p;
  };
  const metrics: BrokerMetrics | undefined = metricsModule?.createMetrics();
  metrics?.setPartitionSizeSource(function* () {
    for (const p of allPartitions()) yield { topic: p.topic, partition: p.index, bytes: p.log.size };
  });

  const leads = (topicId: string, partition: number): boolean =>
    leadsPartition({ store, nodeId: config.nodeId }, topicId, partition);
  const groups = createGroupCoordinator({ config, topics, logger, logDir, leads });
  // Leadership of an offsets partition moved here (a broker left, or came back): its groups are ours now.
  store.onChange((changes, image) => {
    const offsets = image.topics.get(OFFSETS_TOPIC);
    if (!offsets) return;
    for (const c of changes) {
      if (c.type !== 'partition' || c.topicId !== offsets.topicId || !c.before || !c.after) continue;
      if (c.after.leader === config.nodeId && c.before.leader !== config.nodeId) groups.loadLedPartition(c.partition);
    }
  });
  let dispatcher: Dispatcher | undefined;
  const context: BrokerContext = {
    config,
    configs,
    nodeId: config.nodeId,
    clusterId: store.image.clusterId,
    logger,
    logs,
    logDir,
    store,
    topics,
    notifier,
    replication,
    fetchSessions: new FetchSessionCache(),
    producerIds: new ProducerIdAllocator(
      () => {
        if (!registration) return Promise.reject(new Error('the broker is not registered yet'));
        return store.allocateProducerIds(registration.nodeId, registration.brokerEpoch);
      },
      {
        onError: (err) => {
          if (!logDir.noteError(err, 'reserving producer ids'))
            storeLogger.error({ err }, 'reserving producer ids failed');
        },
      },
    ),
    groups: { coordinator: groups.coordinator, ensureOffsetsTopic: groups.ensureOffsetsTopic },
    metrics,
    advertised: { host: listener.host || 'localhost', port: listener.port },
    supportedApis: () => dispatcher?.supportedApis() ?? [],
    autoCreateTopic: (name) => {
      logDir.checkWritable();
      try {
        return topics.create(name, config.get('num.partitions'));
      } catch (err) {
        logDir.noteError(err, `creating topic ${name}`);
        throw err;
      }
    },
  };

  // Config changes reach the open logs and the metadata store.
  configs.onChange((change) => {
    const failed = (err: unknown) => storeLogger.error({ err }, 'saving dynamic configs failed');
    if (change.resourceType === ConfigResourceType.TOPIC) {
      const t = topics.get(change.resourceName);
      if (t) {
        const values = logConfigFor(configs.topicConfig(t.name));
        for (const p of t.partitions) if (p) Object.assign(p.log.config, values);
        try {
          store.setTopicConfigs(t.name, t.topicId, configs.topicOverrides(t.name), brokerFence()).catch(failed);
        } catch (err) {
          failed(err);
        }
      }
      return;
    }
    const state = configs.snapshot();
    store.setBrokerConfigs(config.nodeId, state.dynamicBroker).catch(failed);
    store.setBrokerConfigs(DEFAULT_BROKER_CONFIG_KEY, state.dynamicDefault).catch(failed);
  });
  // And configs written by other brokers (or read back after a re-read of the store) reach the registry.
  store.onChange((changes, image) => {
    for (const change of changes) {
      if (change.type === 'brokerConfig') {
        if (change.target === String(config.nodeId)) {
          configs.setStoredBrokerConfigs('broker', { ...image.brokerConfigs(config.nodeId) });
        } else if (change.target === DEFAULT_BROKER_CONFIG_KEY) {
          configs.setStoredBrokerConfigs('default', { ...image.brokerConfigs(DEFAULT_BROKER_CONFIG_KEY) });
        }
      } else if (change.type === 'topic' && change.after && change.before?.topicId === change.after.topicId) {
        const { name, configs: stored } = change.after;
        if (JSON.stringify(configs.topicOverrides(name)) === JSON.stringify(stored)) continue;
        try {
          configs.setTopicOverrides(name, stored);
        } catch (err) {
          storeLogger.warn({ err, topic: name }, 'stored topic configs not taken');
          continue;
        }
        const values = logConfigFor(configs.topicConfig(name));
        for (const p of topics.get(name)?.partitions ?? []) if (p) Object.assign(p.log.config, values);
      }
    }
  });

  const handlers: ApiHandler[] = [
    produceHandler(context),
    fetchHandler(context),
    listOffsetsHandler(context),
    metadataHandler(context),
    offsetForLeaderEpochHandler(context),
    apiVersionsHandler(context),
    createTopicsHandler(context),
    deleteTopicsHandler(context),
    deleteRecordsHandler(context),
    initProducerIdHandler(context),
    describeConfigsHandler(context),
    alterConfigsHandler(context),
    createPartitionsHandler(context),
    incrementalAlterConfigsHandler(context),
    describeClusterHandler(context),
    describeLogDirsHandler(context),
    describeProducersHandler(context),
    ...groupHandlers(context),
  ];
  dispatcher = new Dispatcher(handlers, logger, {
    onRequest: (api, version, seconds) => metrics?.observeRequest(api, seconds, version),
  });

  const connections = new Set<Connection>();
  let nextConnectionId = 1;
  // Lines about connections (closes, refusals) are bounded per client address; all are counted.
  const connectionLog = new LogLimiter();
  const reportSuppressed = (ended: readonly { source: string; suppressed: number }[]) => {
    for (const e of ended) {
      logger.warn(
        { remote: e.source, suppressed: e.suppressed },
        `suppressed ${e.suppressed} log lines about connections from ${e.source}`,
      );
    }
  };
  const logConnection = (address: string, fields: Record<string, unknown>, msg: string) => {
    const { write, ended } = connectionLog.admit(address);
    reportSuppressed(ended);
    if (write) logger.info(fields, msg);
    else metrics?.logLineSuppressed();
  };
  const budget = new RequestBudget(Number(config.get('queued.max.request.bytes')));
  metrics?.setBrokerStateSource(() => ({ logDirOffline: !logDir.online, queuedRequestBytes: budget.inUse }));
  const connectionOptions = {
    maxRequestBytes: config.get('socket.request.max.bytes'),
    maxInFlight: MAX_IN_FLIGHT_PER_CONNECTION,
    idleTimeoutMs: Number(config.get('connections.max.idle.ms')),
    budget,
    reportClose: (c: Connection, reason: string, invalid: boolean) => {
      if (invalid) metrics?.invalidRequest();
      logConnection(
        normalizeIp(c.remoteAddress),
        { connection: c.id, remote: c.remote },
        `closing connection: ${reason}`,
      );
    },
  };
  const quotas = new ConnectionQuotas(connectionLimits(configs, logger));
  const server: Server = createServer((socket: Socket) => {
    const admitted = quotas.tryOpen(socket.remoteAddress ?? 'unknown');
    if (!admitted.ok) {
      metrics?.connectionRejected(admitted.reason.startsWith('address') ? 'max.connections.per.ip' : 'max.connections');
      logConnection(
        admitted.ip,
        { remote: admitted.ip },
        `rejected connection from ${admitted.ip}: ${admitted.reason}`,
      );
      socket.destroy();
      return;
    }
    const c = new Connection(socket, nextConnectionId++, dispatcher!, connectionOptions, logger, (closed) => {
      connections.delete(closed);
      quotas.closed(admitted.ip);
      metrics?.connectionClosed();
    });
    connections.add(c);
    metrics?.connectionOpened();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listener.port, listener.host || undefined, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Accepting fails when the process is out of descriptors (EMFILE): libuv then drops the
  // pending connections and the server reports the error. It must not end the broker (an
  // 'error' without a listener would): log it, at most once per interval, and go on accepting.
  let acceptErrors = 0;
  let acceptErrorLoggedAt = Number.NEGATIVE_INFINITY;
  server.on('error', (err: NodeJS.ErrnoException) => {
    acceptErrors++;
    const now = Date.now();
    if (now - acceptErrorLoggedAt < ACCEPT_ERROR_LOG_INTERVAL_MS) return;
    acceptErrorLoggedAt = now;
    logger.error(
      { code: err.code, errors: acceptErrors },
      `accepting connections failed: ${err.message}${err.code === 'EMFILE' || err.code === 'ENFILE' ? ' (raise the open-file limit, ulimit -n)' : ''}`,
    );
    acceptErrors = 0;
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : listener.port;
  const advertised = config.advertisedListeners[0];
  context.advertised = {
    host: advertised.host || listener.host || 'localhost',
    port: advertised.port === 0 || advertised === listener ? port : advertised.port,
  };
  // Registered once clients can reach it (the listener's port may be ephemeral). The embedded store
  // never unregisters: its broker epoch (and so the controller epoch) grows once per start.
  const register = () =>
    store.registerBroker({
      nodeId: config.nodeId,
      incarnationId: randomUUID(),
      listeners: [
        {
          name: advertised.name,
          host: context.advertised.host,
          port: context.advertised.port,
          securityProtocol: advertised.securityProtocol,
        },
      ],
      rack: config.get('broker.rack'),
    });
  try {
    registration = await register();
  } catch (err) {
    // A full disk at start (the embedded store cannot write its file): the broker starts read-only
    // and registers once the log dir is back online.
    if (!embedded || !logDir.noteError(err, 'registering the broker')) throw err;
    logDir.onOnline(() => {
      if (registration) return;
      register().then(
        (r) => {
          registration = r;
        },
        (e) => logDir.noteError(e, 'registering the broker') || storeLogger.error({ err: e }, 'registering failed'),
      );
    });
  }
  // A lapsed registration (etcd lease) is replaced by the store; writes then use the new epoch.
  store.onFenced(() => {
    storeLogger.warn('the broker registration lapsed (fenced); registering again');
  });
  store.onChange((changes) => {
    for (const c of changes) {
      if (
        c.type === 'broker' &&
        c.nodeId === config.nodeId &&
        c.after &&
        registration?.incarnationId === c.after.incarnationId
      ) {
        registration = c.after;
      }
    }
  });
  // A block of producer ids at hand before clients arrive; on a full disk InitProducerId answers
  // retriably until one can be stored.
  if (registration) {
    try {
      await context.producerIds.ready();
    } catch (err) {
      if (!logDir.noteError(err, 'reserving producer ids')) throw err;
    }
  }
  // The controller's term is the registration's; in single-node mode it has nothing to move but
  // reports the controller id and keeps the rules the same as in a cluster.
  const controller = new ClusterController(store, config.nodeId, {
    uncleanFor: (topic) => configs.topicConfig(topic)['unclean.leader.election.enable'],
    onError: (err) => storeLogger.warn({ err }, 'controller round failed (retried)'),
  });
  controller.start();
  let metricsServer: MetricsServer | undefined;
  if (metrics && config.metrics) metricsServer = await metrics.listen(config.metrics.port, config.metrics.host);

  const maintenance = setInterval(() => {
    reportSuppressed(connectionLog.sweep());
    try {
      logs.runMaintenance();
    } catch (err) {
      if (!logDir.noteError(err, 'log maintenance')) logger.error({ err }, 'log maintenance failed');
    }
  }, MAINTENANCE_INTERVAL_MS);
  maintenance.unref();

  logger.info(
    { host: context.advertised.host, port, dataDir, clusterId: context.clusterId, topics: topics.size },
    'Sluice broker started',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      clearInterval(maintenance);
      await controller.stop();
      // In a cluster, leave it cleanly: leaderships move before this broker stops serving. The
      // embedded store keeps the registration (its epoch would otherwise grow at every restart).
      if (!embedded && registration) {
        const { nodeId, brokerEpoch } = registration;
        await store.setControlledShutdown(nodeId, brokerEpoch, true).catch(() => {});
        // Kafka's controlled shutdown: the leaderships move to other ISR members first, so clients
        // see NOT_LEADER_OR_FOLLOWER and go to the new leaders, and no acknowledged write is lost.
        const stillLeading = await replication.awaitLeadershipsMoved(CONTROLLED_SHUTDOWN_WAIT_MS);
        if (stillLeading > 0)
          storeLogger.warn({ partitions: stillLeading }, 'controlled shutdown: leaderships not moved in time');
        await store
          .unregisterBroker(nodeId, brokerEpoch)
          .catch((err) => storeLogger.warn({ err }, 'unregistering failed'));
      }
      // Fetching for followers goes on until the controller has taken this broker out of the ISRs.
      replication.close();
      await followerFetchers?.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // In-flight requests finish (bounded wait); then every connection goes.
      // JoinGroup/SyncGroup requests waiting on a rebalance are answered now rather than held to the deadline.
      groups.coordinator.shutdown();
      const deadline = Date.now() + SHUTDOWN_GRACE_MS;
      while ([...connections].some((c) => c.inFlight > 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      for (const c of [...connections]) c.close();
      await closed;
      await metricsServer?.close();
      logDir.close();
      // Connections are closed: no append can follow, so the snapshots match the final log ends.
      // On a full disk what cannot be written is rebuilt by the next start's recovery.
      try {
        saveProducerSnapshots(dataDir, allPartitions());
      } catch (err) {
        if (!isStorageError(err)) throw err;
        logger.warn({ code: (err as { code?: string }).code }, 'producer snapshots not saved (the disk is full)');
      }
      try {
        logs.close();
      } catch (err) {
        if (!isStorageError(err)) throw err;
        logger.warn(
          { code: (err as { code?: string }).code },
          'log checkpoints not written (the disk is full): the next start recovers',
        );
      }
      await store.close();
      // A temporary data directory made for this broker goes with it.
      if (defaults?.ownDir !== undefined) rmSync(defaults.ownDir, { recursive: true, force: true });
      logger.info('Sluice broker stopped');
    })());

  return {
    host: context.advertised.host,
    port,
    bootstrap: `${context.advertised.host}:${port}`,
    clusterId: context.clusterId,
    dataDir,
    context,
    stop,
  };
}
