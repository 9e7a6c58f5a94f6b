/**
 * The cluster metadata model: what every broker must agree on. Plain JSON-able records; the
 * stores keep them, the controller's pure functions compute new ones from old ones.
 */

/** Kafka's "no leader" value in Metadata responses and partition records. */
export const NO_LEADER = -1;

/** One listener a broker accepts clients on (Kafka's `listeners` / `advertised.listeners` entry). */
export interface BrokerListener {
  name: string;
  host: string;
  port: number;
  securityProtocol: string;
}

/** What a broker says about itself when it registers. */
export interface BrokerRegistrationRequest {
  nodeId: number;
  /** Random per process start; tells a re-registration of the same process from a second broker with the same id. */
  incarnationId: string;
  listeners: BrokerListener[];
  rack: string | null;
}

/** A registered broker as the cluster sees it. */
export interface BrokerRegistration extends BrokerRegistrationRequest {
  /**
   * Grows with every registration of this node id (Kafka's broker epoch). A write fenced by a broker
   * epoch is refused once the broker's registration is gone or replaced.
   */
  brokerEpoch: number;
  /** In controlled shutdown: still registered, but must not be chosen as a leader or for new replicas' leadership. */
  inControlledShutdown: boolean;
}

/** A topic: its id, its configuration overrides and how many partitions it has. */
export interface TopicRecord {
  name: string;
  /** Canonical UUID text. */
  topicId: string;
  /** Topic config overrides (Kafka's DYNAMIC_TOPIC_CONFIG), by config name. */
  configs: Record<string, string>;
  partitionCount: number;
}

/** The replication state of one partition (Kafka's PartitionRegistration). */
export interface PartitionRecord {
  topicId: string;
  partition: number;
  /** The assigned replicas; the first one is the preferred leader. */
  replicas: number[];
  isr: number[];
  /** A node id or NO_LEADER. */
  leader: number;
  /** Grows whenever the leader changes (or the replica set shrinks). */
  leaderEpoch: number;
  /** Grows with every change of this record: the compare-and-swap version. */
  partitionEpoch: number;
  /** Replicas being added by a reassignment (already in `replicas`). */
  addingReplicas: number[];
  /** Replicas being removed by a reassignment (still in `replicas`). */
  removingReplicas: number[];
}

/** The controller that currently holds the election. */
export interface ControllerRecord {
  nodeId: number;
  /** Grows with every new controller term; writes fenced by an older epoch are refused. */
  controllerEpoch: number;
}

/** A range of producer ids reserved for one broker (Kafka's AllocateProducerIds answer). */
export interface ProducerIdBlock {
  assignedBrokerId: number;
  firstProducerId: bigint;
  size: number;
}

/** Dynamic broker configs: per node id, and the cluster-wide default under `DEFAULT_BROKER_CONFIG_KEY`. */
export const DEFAULT_BROKER_CONFIG_KEY = 'default';
export type BrokerConfigTarget = number | typeof DEFAULT_BROKER_CONFIG_KEY;

/** Kafka's default producer-id block size (ProducerIdControlManager). */
export const PRODUCER_ID_BLOCK_SIZE = 1000;

export function partitionKey(topicId: string, partition: number): string {
  return `${topicId}:${partition}`;
}
