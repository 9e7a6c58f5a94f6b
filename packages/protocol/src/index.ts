export * from './api.js';
export * from './error-codes.js';
export * from './errors.js';
export * from './framing/index.js';
export * from './generated/index.js';
export * from './primitives/reader.js';
export * from './primitives/writer.js';
// The record-level EndTxnMarker (type, version, coordinator epoch) is the package's; the generated
// schema of the marker value stays reachable as EndTxnMarkerCodec.
export type { EndTxnMarker } from './records/index.js';
export * from './records/index.js';
