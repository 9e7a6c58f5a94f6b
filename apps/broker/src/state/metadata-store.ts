import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@sluice/log';
import type { ConfigRegistryState } from '../config/index.js';

/** A topic as the single-node cluster metadata knows it. */
export interface TopicRecord {
  name: string;
  /** Canonical UUID text. */
  topicId: string;
  partitions: number;
}

/** Everything the broker keeps about the cluster, in one small JSON file per data directory. */
export interface ClusterMetadata {
  version: 1;
  clusterId: string;
  topics: TopicRecord[];
  configs: ConfigRegistryState;
  /** The next producer id InitProducerId hands out; persisted so ids are never reused. */
  nextProducerId: string;
}

export const METADATA_FILE = 'sluice-cluster-metadata.json';
const MAX_METADATA_BYTES = 64 << 20;

/** Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding. */
export function newClusterId(): string {
  return randomBytes(16).toString('base64url');
}

export function newTopicId(): string {
  return randomUUID();
}

/**
 * The embedded cluster-metadata store of a single node: read at start-up, rewritten atomically
 * (temp file, fsync, rename) on every change. Changes are rare (topic and config admin), so a
 * whole-file rewrite is simpler than a log and cheap enough.
 */
export class MetadataStore {
  private readonly file: string;
  data: ClusterMetadata;

  private constructor(file: string, data: ClusterMetadata) {
    this.file = file;
    this.data = data;
  }

  static open(dir: string, clusterId: string | null): MetadataStore {
    const file = join(dir, METADATA_FILE);
    if (!existsSync(file)) {
      // Saved by the caller once it holds the data directory's lock.
      return new MetadataStore(file, {
        version: 1,
        clusterId: clusterId ?? newClusterId(),
        topics: [],
        configs: { dynamicBroker: {}, dynamicDefault: {}, topics: {} },
        nextProducerId: '0',
      });
    }
    const text = readFileSync(file);
    if (text.length > MAX_METADATA_BYTES)
      throw new Error(`${file}: ${text.length} bytes is more than a metadata file holds`);
    let data: ClusterMetadata;
    try {
      data = JSON.parse(text.toString('utf8')) as ClusterMetadata;
    } catch (err) {
      throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
    }
    if (data.version !== 1 || typeof data.clusterId !== 'string' || !Array.isArray(data.topics)) {
      throw new Error(`${file}: not a Sluice cluster metadata file of version 1`);
    }
    if (clusterId !== null && clusterId !== data.clusterId) {
      throw new Error(`${file}: cluster id ${data.clusterId} does not match the configured cluster.id ${clusterId}`);
    }
    return new MetadataStore(file, data);
  }

  save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.data, null, 1));
  }
}
