export * from './consumer/assignors.js';
export * from './consumer/classic-protocol.js';
export * from './consumer/consumer-group-coordinator.js';
export * from './consumer/consumer-records.js';
export * from './consumer/reconcile.js';
export { compileSubscriptionRegex } from './consumer/regex.js';
export * from './coordinator.js';
export {
  ClassicGroup,
  type GroupState,
  type JoinGroupResult,
  Member,
  type OffsetEntry,
  type Protocol,
  type SyncGroupResult,
} from './group.js';
export * from './partitioner.js';
export * from './records.js';
export * from './scheduler.js';
export * from './share/share-group-coordinator.js';
export * from './share/share-group-records.js';
export * from './share/share-partition.js';
export * from './share/share-records.js';
export * from './share/share-state-coordinator.js';
export * from './transaction-coordinator.js';
export * from './transaction-records.js';
