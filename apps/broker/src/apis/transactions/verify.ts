import { ATTRIBUTES_OFFSET, ERROR_CODES, KafkaError, TRANSACTIONAL_FLAG_MASK } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { Partition } from '../../state/partition.js';
import { producerInfoOf } from '../../state/partition.js';
import { coordinatorError } from './common.js';

/**
 * KIP-890 part 1 (Kafka's transaction.partition.verification.enable, on by default): the first
 * transactional batch of a producer on a partition is taken only if the coordinator has the
 * partition in the producer's ongoing transaction — so a late batch of a transaction that already
 * ended (or was never begun) cannot start a "hanging" transaction that holds the LSO back forever.
 * On one node the coordinator is asked directly; where this broker is not the transactional id's
 * coordinator (a cluster), the check is left to the coordinator's own broker for now.
 */
export function verifyTransactionalBatch(
  broker: Pick<BrokerContext, 'transactions' | 'topics' | 'store' | 'nodeId'>,
  transactionalId: string | null,
  topic: string,
  partition: Partition,
  batch: Buffer,
): void {
  if ((batch.readInt16BE(ATTRIBUTES_OFFSET) & TRANSACTIONAL_FLAG_MASK) === 0) return;
  const info = producerInfoOf(batch, 0);
  if (transactionalId === null || info.producerId < 0n) {
    throw new KafkaError(
      ERROR_CODES.INVALID_RECORD,
      'A transactional batch needs a transactional id and a producer id',
    );
  }
  // Already part of an ongoing transaction here: the coordinator said yes to its first batch.
  if (partition.txns.firstOffsetOf(info.producerId) >= 0n) return;
  if (coordinatorError(broker as BrokerContext, transactionalId) !== ERROR_CODES.NONE) return;
  const [code] = broker.transactions.coordinator.verifyPartitions(
    { transactionalId, producerId: info.producerId, producerEpoch: info.producerEpoch },
    [{ topic, partition: partition.index }],
  );
  if (code === ERROR_CODES.NONE) return;
  // An older epoch is the producer's fencing, as the partition itself would answer it.
  if (code === ERROR_CODES.PRODUCER_FENCED) {
    throw new KafkaError(
      ERROR_CODES.INVALID_PRODUCER_EPOCH,
      `Producer ${info.producerId} with epoch ${info.producerEpoch} is fenced`,
    );
  }
  throw new KafkaError(
    code === ERROR_CODES.CONCURRENT_TRANSACTIONS ? code : ERROR_CODES.INVALID_TXN_STATE,
    `The partition ${topic}-${partition.index} is not in the ongoing transaction of ${transactionalId}`,
  );
}
