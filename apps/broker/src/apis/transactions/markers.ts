import type { TxnMarkers } from '@sluice/coordinator';
import { ERROR_CODES } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import { leadsPartition } from '../cluster-view.js';
import { OFFSETS_TOPIC } from '../groups/offsets-topic.js';
import { errorCodeOf } from '../partition-errors.js';

type MarkerBroker = Pick<BrokerContext, 'topics' | 'store' | 'nodeId' | 'logDir' | 'logger'> & {
  groups: Pick<BrokerContext['groups'], 'coordinator'>;
};

/**
 * WriteTxnMarkers for the partitions this broker leads: appends each marker (a control batch)
 * and, on a `__consumer_offsets` partition, completes the transaction's offsets. The answer per
 * partition in order; a partition led elsewhere is NOT_LEADER_OR_FOLLOWER (the coordinator sends
 * it to that leader in a cluster), a deleted one UNKNOWN_TOPIC_OR_PARTITION.
 */
export function writeMarkersLocally(broker: MarkerBroker, m: Omit<TxnMarkers, 'transactionalId'>): number[] {
  return m.partitions.map(({ topic, partition }) => {
    const state = broker.topics.get(topic);
    const p = state?.partitions[partition];
    if (state === undefined || p === undefined) {
      if (state !== undefined && partition < state.partitions.length) return ERROR_CODES.NOT_LEADER_OR_FOLLOWER;
      return ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION;
    }
    if (!leadsPartition(broker, state.topicId, partition)) return ERROR_CODES.NOT_LEADER_OR_FOLLOWER;
    try {
      broker.logDir.checkWritable();
      p.appendMarker({
        producerId: m.producerId,
        producerEpoch: m.producerEpoch,
        coordinatorEpoch: m.coordinatorEpoch,
        commit: m.commit,
      });
      if (topic === OFFSETS_TOPIC) broker.groups.coordinator.completeTxnOffsets(partition, m.producerId, m.commit);
      return ERROR_CODES.NONE;
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
}
