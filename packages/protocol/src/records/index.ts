/**
 * Records: RecordBatch v2 views and builder, control records, legacy message sets, and the
 * CRC and compression modules they use.
 */
export * from '../compression/index.js';
export * from '../crc/index.js';
export * from './batch-layout.js';
export * from './builder.js';
export * from './control.js';
export * from './legacy.js';
export * from './record.js';
export * from './record-batch.js';
export * from './record-set.js';
