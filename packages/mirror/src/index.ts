export {
  type ClusterConfig,
  type FlowConfig,
  type MirrorConfig,
  MirrorConfigError,
  parseMirrorConfig,
} from './config.js';
export { MirrorFlow, type MirrorLogger } from './flow.js';
export { ensureCompactedTopic, readToEnd } from './internal-topics.js';
export { MirrorMetrics } from './metrics.js';
export { MirrorMaker, type MirrorOptions } from './mirror.js';
export { OffsetSyncStore, SYNCS_PER_PARTITION } from './offset-sync-store.js';
export {
  checkpointsTopic,
  heartbeatsTopic,
  identityReplicationPolicy,
  isCycle,
  isInternalTopic,
  offsetSyncsTopic,
  positionsTopic,
  type ReplicationPolicy,
  replicationPolicy,
} from './policy.js';
export {
  type Checkpoint,
  decodeCheckpoint,
  decodeHeartbeat,
  decodeOffsetSync,
  decodeSourcePosition,
  encodeCheckpoint,
  encodeHeartbeat,
  encodeOffsetSync,
  encodeSourcePosition,
  type Heartbeat,
  type OffsetSync,
  RecordFormatError,
  type SourcePosition,
} from './records.js';
