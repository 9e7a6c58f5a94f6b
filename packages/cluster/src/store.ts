import type { MetadataChange, MetadataImage, SecurityRecordChange } from './image.js';
import type {
  BrokerConfigTarget,
  BrokerRegistration,
  BrokerRegistrationRequest,
  ControllerRecord,
  PartitionRecord,
  ProducerIdBlock,
  TopicRecord,
} from './model.js';

/**
 * Who makes a write. The write lands only if this still holds at that moment, so a controller
 * that lost the election, or a broker whose registration lapsed, cannot overwrite newer state.
 * Topic writes (create, grow, configs, delete) take either kind: any live broker can serve an admin
 * request itself, since the compares on the topic's keys keep concurrent writers apart; leadership
 * changes are the controller's (ClusterController), and a leader's own ISR change (AlterPartition)
 * uses its broker fence.
 */
export type WriteFence =
  | { kind: 'controller'; nodeId: number; controllerEpoch: number }
  | { kind: 'broker'; nodeId: number; brokerEpoch: number };

/** One partition change: applied only if the stored record still has `expectedPartitionEpoch`. */
export interface PartitionUpdate {
  expectedPartitionEpoch: number;
  /** The new record; its partitionEpoch must be expectedPartitionEpoch + 1. */
  next: PartitionRecord;
}

/**
 * Whether this process may still act on its broker registration (lead partitions, take writes):
 * `current` (the lease is alive, or etcd just said so), `fenced` (etcd no longer holds it: the
 * broker must not act as a leader until it has registered again), or `unreachable` (etcd does not
 * answer; nobody can change metadata meanwhile, so the cached metadata stands).
 */
export type RegistrationCheck = 'current' | 'fenced' | 'unreachable';

export type ChangeListener = (changes: readonly MetadataChange[], image: MetadataImage) => void;

/**
 * The broker's only door to cluster metadata. Reads come from a local cache (`image`) and never
 * wait; writes are asynchronous compare-and-swap operations that reject with
 * `MetadataConflictError` (state moved on: re-read, decide again) or `MetadataUnavailableError`
 * (store unreachable: retriable). Listeners see every change, including their own writes, once the
 * cache has applied it.
 */
export interface MetadataStore {
  readonly kind: 'embedded' | 'etcd';
  readonly image: MetadataImage;
  onChange(listener: ChangeListener): () => void;

  /**
   * Registers this process's broker. Rejects with DUPLICATE_BROKER_REGISTRATION if another live
   * process holds the node id. The registration lasts while the store keeps it alive (etcd: a
   * lease with heartbeats); when it lapses, `onFenced` listeners are told and the caller must stop
   * acting as a leader until it registers again (with a new broker epoch).
   */
  registerBroker(request: BrokerRegistrationRequest): Promise<BrokerRegistration>;
  /** Marks (or unmarks) the broker as in controlled shutdown: still registered, no longer a leader candidate. */
  setControlledShutdown(nodeId: number, brokerEpoch: number, inControlledShutdown: boolean): Promise<void>;
  /** Removes the broker's registration (clean shutdown), and gives up the controller role if held. */
  unregisterBroker(nodeId: number, brokerEpoch: number): Promise<void>;
  onFenced(listener: (registration: BrokerRegistration) => void): () => void;
  /**
   * Before acting as a leader: `current` at once while the registration is surely alive; past
   * that (its lease may have run out unseen, e.g. the process was stopped), the store asks etcd, and
   * the promise says what it found. Absent: registrations never lapse (the embedded store).
   */
  checkRegistration?(): RegistrationCheck | Promise<RegistrationCheck>;

  /**
   * Campaigns for the controller role for the registered broker `nodeId`; resolves once it holds it.
   * The role is lost with the broker's registration; a `controller` change event tells.
   * Rejects if `signal` aborts or the store closes first.
   */
  campaign(nodeId: number, signal?: AbortSignal): Promise<ControllerRecord>;
  /** Gives up the controller role if this process holds it. */
  resign(): Promise<void>;

  /** Creates a topic: partition records first, the topic record last (it makes the topic visible). */
  createTopic(topic: TopicRecord, partitions: readonly PartitionRecord[], fence: WriteFence): Promise<void>;
  /** Grows a topic: new partition records, then the topic record with the new count. */
  addPartitions(
    name: string,
    topicId: string,
    partitions: readonly PartitionRecord[],
    fence: WriteFence,
  ): Promise<void>;
  /** Replaces a topic's config overrides. */
  setTopicConfigs(name: string, topicId: string, configs: Record<string, string>, fence: WriteFence): Promise<void>;
  /** Deletes a topic: the topic record first (it vanishes), then its partition records. */
  deleteTopic(name: string, topicId: string, fence: WriteFence): Promise<void>;
  /**
   * Applies partition changes, each compared on its partition epoch. Up to `maxUpdatesPerWrite`
   * are atomic together; a longer list is split and a conflict stops at the failing chunk.
   */
  alterPartitions(updates: readonly PartitionUpdate[], fence: WriteFence): Promise<void>;
  /** Replaces the dynamic configs of one broker or of the cluster-wide default. */
  setBrokerConfigs(target: BrokerConfigTarget, configs: Record<string, string>): Promise<void>;
  /** Reserves the next block of producer ids for a registered broker; no id is ever handed out twice. */
  allocateProducerIds(nodeId: number, brokerEpoch: number): Promise<ProducerIdBlock>;

  /**
   * Writes keyed records (ACLs, SCRAM credentials, quotas, group configs, delegation tokens) together; a null
   * value deletes. Changes with `expected` are compared first (MetadataConflictError when one moved).
   */
  setSecurityRecords(changes: readonly SecurityRecordChange[]): Promise<void>;

  close(): Promise<void>;
}
