import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
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
import { SHARE_STATE_TOPIC } from '@sluice/coordinator';
import { LogManager } from '@sluice/log';
import { ERROR_CODES, KafkaError } from '@sluice/protocol';
import { sendFile, sendFileUnavailableReason } from '@sluice/sendfile';
import { createAclsHandler, deleteAclsHandler, describeAclsHandler } from '../apis/acls.js';
import { alterConfigsHandler, incrementalAlterConfigsHandler } from '../apis/alter-configs.js';
import { apiVersionsHandler } from '../apis/api-versions.js';
import { withAuthorization } from '../apis/authorization.js';
import { alterClientQuotasHandler, describeClientQuotasHandler } from '../apis/client-quotas.js';
import { describeClusterHandler, describeLogDirsHandler, describeProducersHandler } from '../apis/cluster.js';
import { leadsPartition } from '../apis/cluster-view.js';
import { createPartitionsHandler } from '../apis/create-partitions.js';
import { createTopicsHandler } from '../apis/create-topics.js';
import { delegationTokenHandlers } from '../apis/delegation-tokens.js';
import { deleteRecordsHandler } from '../apis/delete-records.js';
import { deleteTopicsHandler } from '../apis/delete-topics.js';
import { describeConfigsHandler } from '../apis/describe-configs.js';
import { describeTopicPartitionsHandler } from '../apis/describe-topic-partitions.js';
import { fetchHandler } from '../apis/fetch.js';
import { createGroupCoordinator, groupHandlers, OFFSETS_TOPIC, type ReplicatedAppend } from '../apis/groups/index.js';
import { readPartition } from '../apis/groups/offsets-topic.js';
import { initProducerIdHandler } from '../apis/init-producer-id.js';
import { listOffsetsHandler } from '../apis/list-offsets.js';
import { metadataHandler } from '../apis/metadata.js';
import { offsetForLeaderEpochHandler } from '../apis/offset-for-leader-epoch.js';
import {
  alterPartitionReassignmentsHandler,
  electLeadersHandler,
  listPartitionReassignmentsHandler,
} from '../apis/partition-admin.js';
import { produceHandler } from '../apis/produce.js';
import { withQuotas } from '../apis/quota-enforcement.js';
import { saslAuthenticateHandler, saslHandshakeHandler } from '../apis/sasl.js';
import { alterUserScramCredentialsHandler, describeUserScramCredentialsHandler } from '../apis/scram-credentials.js';
import { createShareServices, shareHandlers } from '../apis/share/index.js';
import { createShareStateService } from '../apis/share/share-state.js';
import { shareStateHandlers } from '../apis/share/share-state-apis.js';
import {
  createTransactionCoordinator,
  TRANSACTION_STATE_TOPIC,
  TxnInterBroker,
  transactionHandlers,
  writeMarkersToLeaders,
} from '../apis/transactions/index.js';
import {
  type BrokerConfig,
  ConfigRegistry,
  type ConfigRegistryState,
  ConfigResourceType,
  createBrokerConfig,
} from '../config/index.js';
import { ConfigException } from '../config/types.js';
import { importOutsideBundle } from '../import-outside-bundle.js';
import { type BrokerLogger, brokerLogger, type Logger } from '../logger.js';
import type { BrokerMetrics, MetricsServer } from '../metrics.js';
import { AppendNotifier } from '../state/append-notifier.js';
import { FetchSessionCache } from '../state/fetch-sessions.js';
import { isStorageError, LogDirHealth } from '../state/log-dir-health.js';
import { saveProducerSnapshots, takeProducerSnapshots } from '../state/producer-snapshots.js';
import { ReplicationService } from '../state/replication.js';
import { logConfigFor, TopicManager } from '../state/topic-manager.js';
import { type BrokerSecurity, createBrokerSecurity } from './broker-security.js';
import { ClientQuotaManager } from './client-quota-manager.js';
import { Connection, type ConnectionSecurity } from './connection.js';
import { type ConnectionLimits, ConnectionQuotas, normalizeIp, parseIpOverrides } from './connection-quotas.js';
import type { BrokerContext } from './context.js';
import { type ApiHandler, Dispatcher } from './dispatcher.js';
import { interBrokerSettings } from './inter-broker.js';
import { ANONYMOUS, type ListenerSecurity, listenerSecurity } from './listener-security.js';
import { LogLimiter } from './log-limiter.js';
import { RequestBudget } from './request-budget.js';
import { SaslSession } from './sasl-session.js';
import { TlsReloader } from './tls-reload.js';

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
  /** Every listener by name with the port it is bound to (`host:port` as advertised). */
  readonly listeners: Readonly<Record<string, { host: string; port: number; securityProtocol: string }>>;
  readonly clusterId: string;
  readonly dataDir: string;
  readonly context: BrokerContext;
  /** Stops accepting, finishes in-flight requests (bounded), flushes and closes the logs. */
  stop(): Promise<void>;
}

/** Requests read but not answered per connection before the broker stops reading from it. */
const MAX_IN_FLIGHT_PER_CONNECTION = 100;
/** A TLS handshake that takes longer is cut off (a slow or stalled client holds no slot for long). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** How long stop() waits for in-flight requests before closing connections anyway. */
const SHUTDOWN_GRACE_MS = 5000;
/** How long a clean stop in a cluster waits for the controller to move this broker's leaderships away. */
const CONTROLLED_SHUTDOWN_WAIT_MS = 15_000;
const MAINTENANCE_INTERVAL_MS = 5000;
/** How long a `__transaction_state` write waits for the partition's in-sync replicas (acks=all, as Kafka's). */
const TXN_STATE_REPLICATION_TIMEOUT_MS = 30_000;
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
  // Every listener's TLS and SASL settings, checked before anything is opened. SCRAM credentials
  // are read from the metadata store at login.
  let security: BrokerSecurity | undefined;
  const listenerSecurities: ListenerSecurity[] = config.listeners.map((l) =>
    listenerSecurity(
      config,
      l,
      (user, mechanism) => security?.scramCredential(user, mechanism),
      (name, reason) => logger.debug({ listener: name }, `OAUTHBEARER token refused: ${reason}`),
      (tokenId, mechanism) => security?.tokens?.scramCredential(tokenId, mechanism),
    ),
  );
  // In a cluster, how this broker reaches the others (inter.broker.listener.name), also checked first.
  const interBroker = config.get('metadata.etcd.endpoints') === null ? null : interBrokerSettings(config);
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
      leaseTtlSeconds: Math.max(1, Math.ceil(config.get('broker.session.timeout.ms') / 1000)),
      onProblem: (err) => logger.warn({ err }, 'etcd metadata'),
    }));
  const configs = new ConfigRegistry(config, configStateOf(store.image, config.nodeId));
  security = createBrokerSecurity(config, store, { logger });
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
        interBroker: interBroker!,
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
  // Coordinator writes in a cluster are acks=all (Kafka's coordinators write so): a new coordinator
  // after a failover has them. A single node appends locally, as before.
  const replicatedAppend: ReplicatedAppend | undefined = embedded
    ? undefined
    : (topic, partition, append) =>
        replication.appendAcksAll(
          partition,
          Number(configs.topicConfig(topic)['min.insync.replicas']),
          config.get('offsets.commit.timeout.ms'),
          append,
        );
  const groups = createGroupCoordinator({
    config,
    topics,
    logger,
    logDir,
    leads,
    image: () => store.image,
    replicatedAppend,
  });
  // The share coordinator (of the `__share_group_state` partitions this broker leads), and the share
  // groups whose partition leaders read and write state through it (here, or on another broker).
  const shareState = createShareStateService({
    config,
    topics,
    logger,
    nodeId: config.nodeId,
    store,
    logDir,
    leads: embedded ? undefined : leads,
    replicatedAppend,
    interBroker,
    self: { host: listener.host || 'localhost', port: listener.port },
  });
  const shares = createShareServices({
    config,
    topics,
    logger,
    state: shareState,
    groupConfigStore: store,
    // The group's epoch, members and assignments go to its __consumer_offsets partition (Kafka's ShareGroup* records).
    appendGroupRecords: (groupId, records) => {
      try {
        groups.ensureOffsetsTopic();
        Promise.resolve(groups.appendRecords(groups.coordinator.partitionFor(groupId), records)).catch((err) =>
          logger.warn({ err, group: groupId }, 'writing share group records failed'),
        );
      } catch (err) {
        logger.warn({ err, group: groupId }, 'writing share group records failed');
      }
    },
    leaderEpoch: (topicId, partition) => store.image.partition(topicId, partition)?.leaderEpoch ?? 0,
    // A single node holds every share-partition: read back at start, as before.
    restore: embedded ? shareState.coordinator.states() : undefined,
  });
  // Share groups of the offsets partitions this broker leads (all of them on a single node) are read back.
  const offsetsTopic = topics.get(OFFSETS_TOPIC);
  for (const p of offsetsTopic?.partitions ?? []) {
    if (p !== undefined && (embedded || leads(offsetsTopic?.topicId as string, p.index))) {
      shares.loadGroups(readPartition(p.log));
    }
  }
  // Leadership moved: state partitions are loaded or dropped, and a topic partition led elsewhere now
  // drops its share-partitions (the new leader reads them from the share coordinator).
  store.onChange((changes, image) => {
    const stateTopicId = image.topics.get(SHARE_STATE_TOPIC)?.topicId;
    let stateMoved = false;
    for (const c of changes) {
      if (c.type !== 'partition' || !c.before || !c.after) continue;
      if (c.before.leader === c.after.leader && c.before.leaderEpoch === c.after.leaderEpoch) continue;
      if (c.topicId === stateTopicId) stateMoved = true;
      else if (c.before.leader === config.nodeId && c.after.leader !== config.nodeId)
        shares.unloadPartition(c.topicId, c.partition);
    }
    if (stateMoved) shareState.sync();
  });
  // Leadership of an offsets partition moved here (a broker left, or came back): its groups are ours
  // now. Moved away (this broker was fenced, or shuts down): its groups are dropped, their waiting
  // members told NOT_COORDINATOR, and the new leader loads them.
  store.onChange((changes, image) => {
    const offsets = image.topics.get(OFFSETS_TOPIC);
    if (!offsets) return;
    for (const c of changes) {
      if (c.type !== 'partition' || c.topicId !== offsets.topicId || !c.before || !c.after) continue;
      const was = c.before.leader === config.nodeId;
      const is = c.after.leader === config.nodeId;
      if (is && !was) groups.loadLedPartition(c.partition);
      if (was && !is) groups.unloadPartition(c.partition);
      // Share groups move with their offsets partition too.
      const part = topics.get(OFFSETS_TOPIC)?.partitions[c.partition];
      if (is && !was && part !== undefined) shares.loadGroups(readPartition(part.log));
      if (was && !is) {
        const moved = shares.coordinator
          .list()
          .map((g) => g.groupId)
          .filter((g) => groups.coordinator.partitionFor(g) === c.partition);
        shares.coordinator.unloadGroups(moved);
      }
    }
  });
  let dispatcher: Dispatcher | undefined;
  // Markers to partitions this broker leads are local appends; in a cluster the rest go to their
  // leaders as WriteTxnMarkers requests (and produce verifications to the coordinator's broker).
  const txnInterBroker = embedded
    ? null
    : new TxnInterBroker(
        store,
        { host: listener.host || 'localhost', port: listener.port },
        config.nodeId,
        interBroker!,
      );
  const transactions = createTransactionCoordinator({
    config,
    topics,
    logger,
    logDir,
    leads,
    nextProducerId: () => context.producerIds.nextId(),
    writeMarkers: (m) => writeMarkersToLeaders(context, txnInterBroker, m),
    leaderEpoch: (topicId, partition) => store.image.partition(topicId, partition)?.leaderEpoch,
    // The topic's min.insync.replicas (Kafka creates it with transaction.state.log.min.isr).
    awaitReplicated: (p, lastOffset) =>
      replication.awaitReplication(
        p,
        lastOffset,
        TXN_STATE_REPLICATION_TIMEOUT_MS,
        Number(configs.topicConfig(TRANSACTION_STATE_TOPIC)['min.insync.replicas']),
      ),
  });
  // Leadership of a transaction state partition moved here: its transactions are ours now. Moved
  // away: they are dropped (their marker retries stop) and the new leader loads them.
  store.onChange((changes, image) => {
    const state = image.topics.get(TRANSACTION_STATE_TOPIC);
    if (!state) return;
    for (const c of changes) {
      if (c.type !== 'partition' || c.topicId !== state.topicId || !c.before || !c.after) continue;
      if (c.after.leader === config.nodeId && c.before.leader !== config.nodeId)
        transactions.loadLedPartition(c.partition);
      if (c.before.leader === config.nodeId && c.after.leader !== config.nodeId)
        transactions.coordinator.unloadPartition(c.partition);
    }
  });
  const context: BrokerContext = {
    config,
    configs,
    nodeId: config.nodeId,
    clusterId: store.image.clusterId,
    logger,
    logs,
    logDir,
    store,
    writeFence: brokerFence,
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
    groups: {
      coordinator: groups.coordinator,
      consumerGroups: groups.consumerGroups,
      shareGroups: shares,
      ensureOffsetsTopic: groups.ensureOffsetsTopic,
    },
    transactions: { ...transactions, interBroker: txnInterBroker },
    metrics,
    security,
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

  // Config changes reach the open logs (the AlterConfigs handlers store them in the metadata store
  // before they answer).
  configs.onChange((change) => {
    if (change.resourceType !== ConfigResourceType.TOPIC) return;
    const t = topics.get(change.resourceName);
    if (!t) return;
    const values = logConfigFor(configs.topicConfig(t.name));
    for (const p of t.partitions) if (p) Object.assign(p.log.config, values);
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
    describeTopicPartitionsHandler(context),
    electLeadersHandler(context),
    alterPartitionReassignmentsHandler(context),
    listPartitionReassignmentsHandler(context),
    saslHandshakeHandler(context),
    saslAuthenticateHandler(context),
    createAclsHandler(context),
    describeAclsHandler(context),
    deleteAclsHandler(context),
    describeUserScramCredentialsHandler(context),
    alterUserScramCredentialsHandler(context),
    ...delegationTokenHandlers(context),
    describeClientQuotasHandler(context),
    alterClientQuotasHandler(context),
    ...groupHandlers(context),
    ...shareHandlers(context, shares),
    ...shareStateHandlers(shareState),
    ...transactionHandlers(context),
  ];
  // Quotas count what was allowed: they sit inside the ACL checks.
  const clientQuotas = new ClientQuotaManager(store);
  dispatcher = new Dispatcher(withAuthorization(context, withQuotas(clientQuotas, handlers)), logger, {
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
  // Fetch responses send records from the segment files where they can (plain TCP, fd I/O).
  const useSendFile = config.logIo === 'fd' && config.get('log.io.sendfile') === true;
  if (useSendFile && sendFile === null) logger.warn(`Fetch responses copy their records: ${sendFileUnavailableReason}`);
  const connectionOptions = {
    sendFile: useSendFile ? sendFile : null,
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
  /** A connection that passed its listener's transport (TLS done, if any): served from now on. */
  const serve = (socket: Socket, ip: string, connectionSecurity: ConnectionSecurity, ownsQuotaSlot = true) => {
    const c = new Connection(
      socket,
      nextConnectionId++,
      dispatcher!,
      connectionOptions,
      logger,
      (closed) => {
        connections.delete(closed);
        if (ownsQuotaSlot) quotas.closed(ip);
        metrics?.connectionClosed();
      },
      connectionSecurity,
    );
    connections.add(c);
    metrics?.connectionOpened();
  };
  const securityOf = (ls: ListenerSecurity, principal: string): ConnectionSecurity => ({
    listener: ls.name,
    principal: ls.sasl ? ANONYMOUS : principal,
    sasl: ls.sasl ? new SaslSession(ls.name, ls.sasl) : undefined,
  });
  const servers: Server[] = [];
  // Dynamic ssl.* updates per listener (IncrementalAlterConfigs) re-read the key stores.
  const tlsReloader = new TlsReloader(config, (name, err) =>
    err === undefined
      ? logger.info({ listener: name }, 'TLS key and trust stores re-read')
      : logger.warn({ listener: name, err }, 'TLS stores not re-read: keeping the previous ones'),
  );
  for (const ls of listenerSecurities) {
    // TLS listeners hand each admitted socket to a TLS server that is never bound itself: the
    // limits above apply before the handshake, which is bounded in time.
    const tlsServer =
      ls.tls === undefined
        ? undefined
        : createTlsServer({ ...ls.tls.options, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, (tlsSocket: TLSSocket) => {
            const ip = normalizeIp(tlsSocket.remoteAddress ?? 'unknown');
            if (ls.tls!.clientAuth === 'requested' && !tlsSocket.authorized && tlsSocket.getPeerX509Certificate()) {
              logConnection(
                ip,
                { remote: ip, listener: ls.name },
                `closing TLS connection: client certificate not trusted (${tlsSocket.authorizationError})`,
              );
              tlsSocket.destroy();
              return;
            }
            const principal = ls.principalOf(tlsSocket);
            if (principal === null) {
              logConnection(
                ip,
                { remote: ip, listener: ls.name },
                'closing TLS connection: no ssl.principal.mapping.rules rule applies to the client certificate',
              );
              tlsSocket.destroy();
              return;
            }
            serve(tlsSocket, ip, securityOf(ls, principal), false);
          });
    if (tlsServer !== undefined) tlsReloader.add(ls.name, tlsServer, ls.tls!.options);
    tlsServer?.on('tlsClientError', (err, tlsSocket) => {
      const ip = normalizeIp(tlsSocket.remoteAddress ?? 'unknown');
      logConnection(ip, { remote: ip, listener: ls.name }, `TLS handshake failed: ${err.message}`);
      tlsSocket.destroy();
    });
    const server: Server = createServer((socket: Socket) => {
      const admitted = quotas.tryOpen(socket.remoteAddress ?? 'unknown');
      if (!admitted.ok) {
        metrics?.connectionRejected(
          admitted.reason.startsWith('address') ? 'max.connections.per.ip' : 'max.connections',
        );
        logConnection(
          admitted.ip,
          { remote: admitted.ip },
          `rejected connection from ${admitted.ip}: ${admitted.reason}`,
        );
        socket.destroy();
        return;
      }
      if (tlsServer === undefined) {
        serve(socket, admitted.ip, securityOf(ls, ANONYMOUS));
        return;
      }
      // The raw socket holds the connection's slot, through the handshake and after it.
      socket.once('close', () => quotas.closed(admitted.ip));
      tlsServer.emit('connection', socket);
    });
    servers.push(server);
  }
  configs.setBrokerUpdateCheck((next, perBroker) => tlsReloader.check(next, perBroker));
  configs.onChange((change) => {
    if (change.resourceType === ConfigResourceType.BROKER && change.resourceName !== '') {
      tlsReloader.apply(configs.dynamicBrokerProps());
    }
  });
  // Values stored by an earlier run count from the start.
  tlsReloader.apply(configs.dynamicBrokerProps());
  await Promise.all(
    servers.map(
      (srv, i) =>
        new Promise<void>((resolve, reject) => {
          const l = config.listeners[i];
          srv.once('error', reject);
          srv.listen(l.port, l.host || undefined, () => {
            srv.off('error', reject);
            resolve();
          });
        }),
    ),
  );
  // Accepting fails when the process is out of descriptors (EMFILE): libuv then drops the
  // pending connections and the server reports the error. It must not end the broker (an
  // 'error' without a listener would): log it, at most once per interval, and go on accepting.
  let acceptErrors = 0;
  let acceptErrorLoggedAt = Number.NEGATIVE_INFINITY;
  const onAcceptError = (err: NodeJS.ErrnoException) => {
    acceptErrors++;
    const now = Date.now();
    if (now - acceptErrorLoggedAt < ACCEPT_ERROR_LOG_INTERVAL_MS) return;
    acceptErrorLoggedAt = now;
    logger.error(
      { code: err.code, errors: acceptErrors },
      `accepting connections failed: ${err.message}${err.code === 'EMFILE' || err.code === 'ENFILE' ? ' (raise the open-file limit, ulimit -n)' : ''}`,
    );
    acceptErrors = 0;
  };
  for (const srv of servers) srv.on('error', onAcceptError);
  // Each listener's bound port (it may be ephemeral), and what each advertises.
  const boundPorts = new Map<string, number>();
  servers.forEach((srv, i) => {
    const address = srv.address();
    const l = config.listeners[i];
    boundPorts.set(l.name, typeof address === 'object' && address !== null ? address.port : l.port);
  });
  const port = boundPorts.get(listener.name)!;
  const advertisedEndpoints = config.advertisedListeners.map((a) => {
    const bound = config.listeners.find((l) => l.name === a.name)!;
    return {
      name: a.name,
      securityProtocol: a.securityProtocol,
      host: a.host || bound.host || 'localhost',
      port: a.port === 0 || a === bound ? boundPorts.get(a.name)! : a.port,
    };
  });
  context.advertised = { host: advertisedEndpoints[0].host, port: advertisedEndpoints[0].port };
  // Registered once clients can reach it (the listener's port may be ephemeral). The embedded store
  // never unregisters: its broker epoch (and so the controller epoch) grows once per start.
  const register = () =>
    store.registerBroker({
      nodeId: config.nodeId,
      incarnationId: randomUUID(),
      listeners: advertisedEndpoints.map(({ name, host, port, securityProtocol }) => ({
        name,
        host,
        port,
        securityProtocol,
      })),
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
    // Kafka's defaults: on, every 300 s. Read once, as Kafka (both are read-only configs).
    leaderRebalanceIntervalMs: configs.brokerValue('auto.leader.rebalance.enable')
      ? Number(configs.brokerValue('leader.imbalance.check.interval.seconds')) * 1000
      : undefined,
  });
  controller.start();
  let metricsServer: MetricsServer | undefined;
  if (metrics && config.metrics) metricsServer = await metrics.listen(config.metrics.port, config.metrics.host);
  let consoleServer: { close(): Promise<void> } | undefined;

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
      await consoleServer?.close();
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
      const closed = Promise.all(servers.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
      // In-flight requests finish (bounded wait); then every connection goes.
      // JoinGroup/SyncGroup requests waiting on a rebalance are answered now rather than held to the deadline.
      groups.coordinator.shutdown();
      groups.consumerGroups.shutdown();
      shares.close();
      await shareState.close();
      security?.tokens?.close();
      transactions.coordinator.shutdown();
      await txnInterBroker?.close();
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

  if (config.console) {
    // In-process, the console reaches the broker on the address it listens on (loopback for any-address).
    const reach = listener.host && listener.host !== '0.0.0.0' && listener.host !== '::' ? listener.host : '127.0.0.1';
    try {
      consoleServer = await startWebConsole(config.console, `${reach}:${port}`, config.metrics, {
        // On a SASL listener each browser logs in with its own credentials.
        login: listener.securityProtocol === 'SASL_PLAINTEXT',
      });
    } catch (err) {
      await stop();
      throw err;
    }
  }

  return {
    host: context.advertised.host,
    port,
    bootstrap: `${context.advertised.host}:${port}`,
    listeners: Object.fromEntries(
      advertisedEndpoints.map((e) => [e.name, { host: e.host, port: e.port, securityProtocol: e.securityProtocol }]),
    ),
    clusterId: context.clusterId,
    dataDir,
    context,
    stop,
  };
}

/**
 * The web console (console.port): @sluice/console is loaded by name when asked for, so the broker
 * does not depend on it (the console depends on the client only).
 */
async function startWebConsole(
  at: { host: string; port: number },
  bootstrap: string,
  metrics: { host: string; port: number } | null,
  access: { login: boolean },
): Promise<{ close(): Promise<void> }> {
  const specifier = '@sluice/console';
  let mod: {
    startConsole(o: {
      bootstrap: string[];
      port: number;
      host: string;
      metricsUrls?: string[];
      login?: boolean;
    }): Promise<{
      close(): Promise<void>;
    }>;
  };
  try {
    mod = await importOutsideBundle(specifier);
  } catch (err) {
    throw new ConfigException(`console.port is set but @sluice/console cannot be loaded: ${(err as Error).message}`);
  }
  const metricsHost = metrics && (metrics.host === '0.0.0.0' || metrics.host === '' ? '127.0.0.1' : metrics.host);
  return mod.startConsole({
    bootstrap: [bootstrap],
    port: at.port,
    host: at.host,
    ...(metrics ? { metricsUrls: [`http://${metricsHost}:${metrics.port}/metrics`] } : {}),
    login: access.login,
  });
}
