export {
  GlobalKTable,
  type Grouped,
  KGroupedStream,
  KGroupedTable,
  KStream,
  KTable,
  type Materialized,
  type Serdes,
  SessionWindowedKStream,
  type StreamOptions,
  StreamsBuilder,
  TimeWindowedKStream,
  WindowedKTable,
} from './dsl.js';
export { type BytesStore, InMemoryStore, LmdbStore } from './stores.js';
export type { KeyQueryMetadata, StreamsMetadata } from './streams.js';
export { KafkaStreams, type StreamsConfig, type StreamsState } from './streams.js';
export type { DeserializationPolicy, TaskMetrics } from './task.js';
export type { Change, SubTopology, Topology } from './topology.js';
export { JoinWindows, SessionWindows, SlidingWindows, TimeWindows, type Windowed, windowedSerde } from './windows.js';
