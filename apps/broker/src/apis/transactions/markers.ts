import { NO_LEADER } from '@sluice/cluster/core';
import type { TxnMarkers } from '@sluice/coordinator';
import { ERROR_CODES } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import { leadsPartition } from '../cluster-view.js';
import { OFFSETS_TOPIC } from '../groups/offsets-topic.js';
import { errorCodeOf } from '../partition-errors.js';
import type { TxnInterBroker } from './inter-broker.js';

type MarkerBroker = Pick<BrokerContext, 'topics' | 'store' | 'nodeId' | 'logDir' | 'logger' | 'configs'> & {
  groups: Pick<BrokerContext['groups'], 'coordinator'>;
  replication: Pick<BrokerContext['replication'], 'awaitReplication'>;
};

/** How long a marker waits for the partition's in-sync replicas (Kafka's marker appends use acks=all). */
const MARKER_REPLICATION_TIMEOUT_MS = 30_000;

/**
 * Where the coordinator's markers go: each partition to its leader as the metadata image has it,
 * written here when that is this broker, else sent to that broker (`remote`). Codes per
 * partition in the order given; a partition without a leader is NOT_LEADER_OR_FOLLOWER, which
 * the coordinator retries once the metadata has moved on.
 */
export async function writeMarkersToLeaders(
  broker: MarkerBroker,
  remote: Pick<TxnInterBroker, 'writeMarkers'> | null,
  m: TxnMarkers,
): Promise<number[]> {
  const byLeader = new Map<number, number[]>();
  m.partitions.forEach((tp, i) => {
    const topicId = broker.store.image.topics.get(tp.topic)?.topicId;
    const record = topicId === undefined ? undefined : broker.store.image.partition(topicId, tp.partition);
    // No record: single-node data, this broker's.
    const leader = record === undefined || remote === null ? broker.nodeId : record.leader;
    const list = byLeader.get(leader) ?? [];
    list.push(i);
    byLeader.set(leader, list);
  });
  const codes: number[] = new Array(m.partitions.length).fill(ERROR_CODES.UNKNOWN_SERVER_ERROR);
  await Promise.all(
    [...byLeader].map(async ([leader, indexes]) => {
      const partitions = indexes.map((i) => m.partitions[i]);
      let answer: number[];
      if (leader === broker.nodeId) answer = await writeMarkersLocally(broker, { ...m, partitions });
      else if (leader === NO_LEADER) answer = partitions.map(() => ERROR_CODES.NOT_LEADER_OR_FOLLOWER);
      else answer = await remote!.writeMarkers(leader, { ...m, partitions });
      indexes.forEach((i, j) => {
        codes[i] = answer[j] ?? ERROR_CODES.UNKNOWN_SERVER_ERROR;
      });
    }),
  );
  return codes;
}

/**
 * WriteTxnMarkers for the partitions this broker leads: appends each marker (a control batch),
 * on a `__consumer_offsets` partition completes the transaction's offsets, and answers once the
 * in-sync replicas have the marker. The answer per partition in order; a partition led elsewhere
 * is NOT_LEADER_OR_FOLLOWER (the coordinator sends it to that leader in a cluster), a deleted one
 * UNKNOWN_TOPIC_OR_PARTITION.
 */
export function writeMarkersLocally(broker: MarkerBroker, m: Omit<TxnMarkers, 'transactionalId'>): Promise<number[]> {
  const written = m.partitions.map(({ topic, partition }): number | Promise<number> => {
    const state = broker.topics.get(topic);
    const p = state?.partitions[partition];
    if (state === undefined || p === undefined) {
      if (state !== undefined && partition < state.partitions.length) return ERROR_CODES.NOT_LEADER_OR_FOLLOWER;
      return ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (!leadsPartition(broker, state.topicId, partition)) return ERROR_CODES.NOT_LEADER_OR_FOLLOWER;
    try {
      broker.logDir.checkWritable();
      const appended = p.appendMarker({
        producerId: m.producerId,
        producerEpoch: m.producerEpoch,
        coordinatorEpoch: m.coordinatorEpoch,
        commit: m.commit,
      });
      if (topic === OFFSETS_TOPIC) broker.groups.coordinator.completeTxnOffsets(partition, m.producerId, m.commit);
      const minIsr = Number(broker.configs.topicConfig(topic)['min.insync.replicas']);
      return broker.replication.awaitReplication(p, appended.lastOffset, MARKER_REPLICATION_TIMEOUT_MS, minIsr);
    } catch (err) {
      const code = errorCodeOf(err);
      if (
        code === ERROR_CODES.UNKNOWN_SERVER_ERROR &&
        !broker.logDir.noteError(err, `marker to ${topic}-${partition}`)
      ) {
        broker.logger.error({ err, topic, partition }, 'writing a transaction marker failed');
      }
      return code;
    }
  });
  return Promise.all(written);
}
