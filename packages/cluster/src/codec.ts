import { CorruptMetadataError } from './errors.js';
import type { BrokerListener, PartitionRecord, TopicRecord } from './model.js';

/**
 * Checks of records read back from the store (a file or etcd): each value is checked field by field
 * before it enters the cache, and a bad one is reported with the key it came from.
 */
export class RecordReader {
  constructor(
    readonly key: string,
    private readonly value: Record<string, unknown>,
  ) {}

  static parse(key: string, text: string, maxBytes = 1 << 20): RecordReader {
    if (text.length > maxBytes) throw new CorruptMetadataError(key, `value of ${text.length} bytes is too large`);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new CorruptMetadataError(key, `not valid JSON (${(err as Error).message})`);
    }
    return RecordReader.of(key, value);
  }

  static of(key: string, value: unknown): RecordReader {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new CorruptMetadataError(key, 'not a JSON object');
    }
    return new RecordReader(key, value as Record<string, unknown>);
  }

  fail(field: string, what: string): never {
    throw new CorruptMetadataError(this.key, `field ${field}: ${what}`);
  }

  int(field: string, min = -1): number {
    const v = this.value[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(field, `expected an integer >= ${min}`);
    return v;
  }

  optionalInt(field: string, fallback: number, min = -1): number {
    return this.value[field] === undefined ? fallback : this.int(field, min);
  }

  string(field: string): string {
    const v = this.value[field];
    if (typeof v !== 'string') this.fail(field, 'expected a string');
    return v;
  }

  nullableString(field: string): string | null {
    const v = this.value[field];
    if (v === null || v === undefined) return null;
    if (typeof v !== 'string') this.fail(field, 'expected a string or null');
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.value[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(field, 'expected a boolean');
    return v;
  }

  /** A decimal string of a non-negative int64 (JSON numbers cannot hold one exactly). */
  bigint(field: string): bigint {
    const v = this.value[field];
    if (typeof v !== 'string' || !/^\d{1,19}$/.test(v)) this.fail(field, 'expected a decimal string');
    const n = BigInt(v);
    if (n > (1n << 63n) - 1n) this.fail(field, 'beyond int64');
    return n;
  }

  ints(field: string, maxLength = 1 << 16): number[] {
    const v = this.value[field];
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.length > maxLength) this.fail(field, 'expected an array of node ids');
    for (const x of v)
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) this.fail(field, 'expected node ids');
    return v as number[];
  }

  stringMap(field: string): Record<string, string> {
    const v = this.value[field];
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'expected an object of strings');
    const out: Record<string, string> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string') this.fail(`${field}.${k}`, 'expected a string');
      out[k] = x;
    }
    return out;
  }

  listeners(field: string): BrokerListener[] {
    const v = this.value[field];
    if (!Array.isArray(v) || v.length > 64) this.fail(field, 'expected an array of listeners');
    return v.map((item, i) => {
      const r = RecordReader.of(`${this.key} ${field}[${i}]`, item);
      return {
        name: r.string('name'),
        host: r.string('host'),
        port: r.int('port', 0),
        securityProtocol: r.string('securityProtocol'),
      };
    });
  }
}

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function checkTopicId(r: RecordReader, field: string, value: string): string {
  if (!UUID_TEXT.test(value)) r.fail(field, 'expected a UUID');
  return value;
}

/** Reads a partition record's replication fields; `topicId` and `partition` come from where it is stored. */
export function readPartition(r: RecordReader, topicId: string, partition: number): PartitionRecord {
  const replicas = r.ints('replicas');
  const record: PartitionRecord = {
    topicId,
    partition,
    replicas,
    isr: r.ints('isr'),
    leader: r.int('leader', -1),
    leaderEpoch: r.int('leaderEpoch', 0),
    partitionEpoch: r.int('partitionEpoch', 0),
    addingReplicas: r.ints('addingReplicas'),
    removingReplicas: r.ints('removingReplicas'),
  };
  if (replicas.length === 0) r.fail('replicas', 'empty');
  for (const id of record.isr) if (!replicas.includes(id)) r.fail('isr', `node ${id} is not a replica`);
  return record;
}

/** The JSON of a partition record without the fields its key already says. */
export function partitionJson(p: PartitionRecord): Record<string, unknown> {
  return {
    replicas: p.replicas,
    isr: p.isr,
    leader: p.leader,
    leaderEpoch: p.leaderEpoch,
    partitionEpoch: p.partitionEpoch,
    addingReplicas: p.addingReplicas,
    removingReplicas: p.removingReplicas,
  };
}

export function readTopic(r: RecordReader, name: string): TopicRecord {
  return {
    name,
    topicId: checkTopicId(r, 'topicId', r.string('topicId')),
    configs: r.stringMap('configs'),
    partitionCount: r.int('partitionCount', 1),
  };
}
