import { checkTopicId, partitionJson, RecordReader, readPartition, readTopic } from '../codec.js';
import { CorruptMetadataError } from '../errors.js';
import { type ClusterImage, KEYED_RECORD_KINDS, type KeyedRecordKind, type MetadataChange } from '../image.js';
import type { BrokerRegistration, PartitionRecord, TopicRecord } from '../model.js';

/**
 * The key space under `<root>/<cluster-id>/` (the store's etcd namespace):
 *
 *   cluster                         {clusterId}                       written once
 *   brokers/<node-id>               {incarnationId, listeners, rack, inControlledShutdown}
 *                                   put with the broker's lease; broker epoch = the key's create revision
 *   controller                      {nodeId}; put with the holder's lease; controller epoch = create revision
 *   topics/<name>                   {topicId, configs, partitionCount}
 *   partitions/<topic-id>/<p>       {replicas, isr, leader, leaderEpoch, partitionEpoch, addingReplicas, removingReplicas}
 *   configs/broker/<id|default>     {configs}
 *   producer-ids                    {nextProducerId}
 *   security/<kind>/<key>           ACLs, SCRAM credentials, quotas (JSON the broker defines)
 *
 * Epochs that etcd already counts (revisions) are not stored twice in the values.
 */
export const KEYS = {
  cluster: 'cluster',
  broker: (nodeId: number) => `brokers/${nodeId}`,
  controller: 'controller',
  topic: (name: string) => `topics/${name}`,
  partition: (topicId: string, partition: number) => `partitions/${topicId}/${partition}`,
  partitionsOf: (topicId: string) => `partitions/${topicId}/`,
  brokerConfigs: (target: string) => `configs/broker/${target}`,
  producerIds: 'producer-ids',
  /** The record key is URI-encoded: ACL keys hold any character. */
  security: (kind: string, key: string) => `security/${kind}/${encodeURIComponent(key)}`,
} as const;

export interface StoredKv {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
}

const NODE_ID = /^(0|[1-9]\d{0,9})$/;

/** Applies one key's new value (or its deletion) to the image. Throws CorruptMetadataError on a bad value. */
export function applyKv(image: ClusterImage, kv: StoredKv, deleted: boolean, out: MetadataChange[]): void {
  const { key } = kv;
  const parts = key.split('/');
  const read = () => RecordReader.parse(key, kv.value);
  switch (parts[0]) {
    case 'cluster':
      return;
    case 'brokers': {
      if (parts.length !== 2 || !NODE_ID.test(parts[1])) throw new CorruptMetadataError(key, 'bad broker key');
      const nodeId = Number(parts[1]);
      if (deleted) {
        image.setBroker(nodeId, undefined, out);
        return;
      }
      const r = read();
      const reg: BrokerRegistration = {
        nodeId,
        incarnationId: r.string('incarnationId'),
        listeners: r.listeners('listeners'),
        rack: r.nullableString('rack'),
        brokerEpoch: kv.createRevision,
        inControlledShutdown: r.bool('inControlledShutdown', false),
      };
      image.setBroker(nodeId, reg, out);
      return;
    }
    case 'controller': {
      if (deleted) {
        image.setController(null, out);
        return;
      }
      image.setController({ nodeId: read().int('nodeId', 0), controllerEpoch: kv.createRevision }, out);
      return;
    }
    case 'topics': {
      const name = parts.slice(1).join('/');
      if (deleted) {
        image.setTopic(name, undefined, out);
        return;
      }
      image.setTopic(name, readTopic(read(), name), out);
      return;
    }
    case 'partitions': {
      if (parts.length !== 3 || !NODE_ID.test(parts[2])) throw new CorruptMetadataError(key, 'bad partition key');
      const r0 = RecordReader.of(key, {});
      const topicId = checkTopicId(r0, 'key', parts[1]);
      const partition = Number(parts[2]);
      if (deleted) {
        image.setPartition(topicId, partition, undefined, out);
        return;
      }
      image.setPartition(topicId, partition, readPartition(read(), topicId, partition), out);
      return;
    }
    case 'configs': {
      if (parts.length !== 3 || parts[1] !== 'broker') return;
      const target = parts[2];
      if (target !== 'default' && !NODE_ID.test(target)) throw new CorruptMetadataError(key, 'bad broker config key');
      image.setBrokerConfigs(target, deleted ? undefined : read().stringMap('configs'), out);
      return;
    }
    case 'producer-ids':
      image.setNextProducerId(deleted ? 0n : read().bigint('nextProducerId'), out);
      return;
    case 'security': {
      const kind = parts[1] as KeyedRecordKind;
      if (parts.length !== 3 || !KEYED_RECORD_KINDS.includes(kind)) return;
      let recordKey: string;
      try {
        recordKey = decodeURIComponent(parts[2]);
      } catch {
        throw new CorruptMetadataError(key, 'bad security record key');
      }
      image.setSecurityRecord(kind, recordKey, deleted ? undefined : kv.value, out);
      return;
    }
    default:
      // Keys of later versions (acls, scram, quotas, ...) are not this version's business.
      return;
  }
}

export function topicValue(t: TopicRecord): string {
  return JSON.stringify({ topicId: t.topicId, configs: t.configs, partitionCount: t.partitionCount });
}

export function partitionValue(p: PartitionRecord): string {
  return JSON.stringify(partitionJson(p));
}
