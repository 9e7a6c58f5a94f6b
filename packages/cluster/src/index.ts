export * from './core.js';
export * from './etcd/etcd-store.js';
export * from './etcd/local-etcd.js';
