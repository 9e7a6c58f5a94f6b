export {
  Admin,
  type ConfigEntry,
  ConfigOp,
  ConfigResource,
  type DelegationToken,
  type GroupDescription,
  type NewTopic,
  type TransactionDescription,
} from './admin.js';
export { type BrokerAddress, BrokerPool, type Lane, parseAddress } from './broker-pool.js';
export { type ClientContext, type ClientOptions, createContext } from './client.js';
export {
  Connection,
  type ConnectionOptions,
  type RequestOptions,
  type SaslOptions,
  type SslOptions,
} from './connection.js';
export {
  ASSIGNORS,
  type Assignor,
  cooperativeStickyAssignor,
  type MemberSubscription,
  rangeAssignor,
  roundRobinAssignor,
} from './consumer/assignors.js';
export {
  type AssignedPartition,
  type BatchContext,
  Consumer,
  type ConsumerOptions,
  type ConsumerRecord,
  DeserializationError,
  type DeserializationErrorPolicy,
  type RebalanceListener,
} from './consumer/consumer.js';
export { EARLIEST, LATEST, type TopicPartition } from './consumer/offsets.js';
export { ShareConsumer, type ShareConsumerOptions, type ShareRecord } from './consumer/share-consumer.js';
export * from './errors.js';
export { Kafka } from './kafka.js';
export { type BrokerInfo, Metadata, type PartitionInfo, type TopicInfo } from './metadata.js';
export { combineSinks, Histogram, LATENCY_BUCKETS_MS, Metrics, type MetricsSink } from './metrics.js';
export { murmur2, partitionForKey, StickyPartitioner, toPositive } from './partitioner.js';
export {
  type Compression,
  type ConsumerGroupMetadata,
  type Headers,
  Producer,
  type ProducerOptions,
  type ProducerRecord,
  type RecordMetadata,
  type TransactionOffsets,
} from './producer/producer.js';
export { backoffMs, type RetryOptions, withRetry } from './retry.js';
export { type KeyOf, type Serde, serde, type Topic, topic, type ValueOf } from './serde.js';
export { negotiateVersions } from './versions.js';
