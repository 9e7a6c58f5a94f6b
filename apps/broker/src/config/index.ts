export * from './broker-config.js';
export * from './config-registry.js';
export * from './load-config.js';
export * from './properties.js';
export * from './static-config.js';
export * from './topic-config.js';
export * from './types.js';
