export * from './api.js';
export * from './error-codes.js';
export * from './errors.js';
export * from './framing/index.js';
export * from './generated/index.js';
export * from './primitives/reader.js';
export * from './primitives/writer.js';
export * from './records/index.js';
