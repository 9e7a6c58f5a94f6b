// Prometheus metrics of the mirror (prom-client, as the broker's), labelled by flow and topic.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class MirrorMetrics {
  readonly registry: Registry;
  readonly records: Counter<'source' | 'target' | 'topic'>;
  readonly bytes: Counter<'source' | 'target' | 'topic'>;
  readonly lag: Gauge<'source' | 'target' | 'topic'>;
  readonly latency: Histogram<'source' | 'target' | 'topic'>;
  readonly offsetSyncs: Counter<'source' | 'target'>;
  readonly checkpoints: Counter<'source' | 'target'>;
  readonly heartbeats: Counter<'source' | 'target'>;
  readonly groupOffsetsSynced: Counter<'source' | 'target'>;
  readonly bufferedBytes: Gauge<'source' | 'target'>;
  readonly transactions: Counter<'source' | 'target'>;

  constructor(registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    const flow = ['source', 'target'] as const;
    const topic = ['source', 'target', 'topic'] as const;
    this.records = new Counter({
      name: 'sluice_mirror_records_total',
      help: 'Records copied to the target and acknowledged, by source topic',
      labelNames: topic,
      registers,
    });
    this.bytes = new Counter({
      name: 'sluice_mirror_bytes_total',
      help: 'Key, value and header bytes copied and acknowledged, by source topic',
      labelNames: topic,
      registers,
    });
    this.lag = new Gauge({
      name: 'sluice_mirror_lag_records',
      help: "Records on the source not yet copied (source end offsets minus the mirror's positions), by source topic",
      labelNames: topic,
      registers,
    });
    this.latency = new Histogram({
      name: 'sluice_mirror_replication_latency_seconds',
      help: "From a record's timestamp to its acknowledgement by the target (MM2's replication-latency-ms)",
      labelNames: topic,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    this.offsetSyncs = new Counter({
      name: 'sluice_mirror_offset_syncs_total',
      help: 'Offset syncs written',
      labelNames: flow,
      registers,
    });
    this.checkpoints = new Counter({
      name: 'sluice_mirror_checkpoints_total',
      help: 'Checkpoints written',
      labelNames: flow,
      registers,
    });
    this.heartbeats = new Counter({
      name: 'sluice_mirror_heartbeats_total',
      help: 'Heartbeats written',
      labelNames: flow,
      registers,
    });
    this.groupOffsetsSynced = new Counter({
      name: 'sluice_mirror_group_offsets_synced_total',
      help: 'Translated group offsets committed on the target (sync.group.offsets.enabled)',
      labelNames: flow,
      registers,
    });
    this.bufferedBytes = new Gauge({
      name: 'sluice_mirror_buffered_bytes',
      help: 'Bytes sent to the target and not yet acknowledged',
      labelNames: flow,
      registers,
    });
    this.transactions = new Counter({
      name: 'sluice_mirror_transactions_total',
      help: 'Exactly-once transactions committed (copied records with their source positions)',
      labelNames: flow,
      registers,
    });
  }
}
