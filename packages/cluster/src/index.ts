export * from './codec.js';
export * from './controller/partition-change.js';
export * from './controller/placement.js';
export * from './controller/producer-ids.js';
export * from './embedded-store.js';
export * from './errors.js';

export * from './image.js';
export * from './model.js';
export * from './store.js';
