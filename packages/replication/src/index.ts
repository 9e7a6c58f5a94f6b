export * from './isr-updater.js';
export * from './partition-replica.js';
export * from './produce-purgatory.js';
export * from './replica-fetcher.js';
