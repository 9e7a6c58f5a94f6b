// Everything but the etcd backend, whose client loads gRPC and its protocol files (about half a
// second): a single-node broker imports this and loads `@sluice/cluster` only for etcd.
export * from './codec.js';
export * from './controller/controller.js';
export * from './controller/partition-admin.js';
export * from './controller/partition-change.js';
export * from './controller/placement.js';
export * from './controller/producer-ids.js';
export * from './controller/reconcile.js';
export * from './embedded-store.js';
export * from './errors.js';
export * from './image.js';
export * from './model.js';
export * from './producer-id-allocator.js';
export * from './store.js';
