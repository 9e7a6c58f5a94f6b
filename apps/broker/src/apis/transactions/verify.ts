import type { TxnIdentity } from '@sluice/coordinator';
import { ATTRIBUTES_OFFSET, ERROR_CODES, KafkaError, TRANSACTIONAL_FLAG_MASK } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { Partition } from '../../state/partition.js';
import { producerInfoOf } from '../../state/partition.js';
import { coordinatorError } from './common.js';
import { TRANSACTION_STATE_TOPIC } from './transaction-state-topic.js';

/** Kafka's transaction version 2 (TransactionVersion.TV_2): an epoch bump per transaction, partitions added by their leaders. */
export const TRANSACTIONS_V2 = 2;

/**
 * KIP-890 part 1 (Kafka's transaction.partition.verification.enable, on by default): the first
 * transactional batch of a producer on a partition is taken only if the coordinator has the
 * partition in the producer's ongoing transaction — so a late batch of a transaction that already
 * ended (or was never begun) cannot start a "hanging" transaction that holds the LSO back forever.
 * With `add` (Produce v12+, transactions V2, KIP-890 part 2) the coordinator adds the partition
 * instead of the producer's AddPartitionsToTxn. Synchronous when no other broker is asked.
 */
export function verifyTransactionalBatch(
  broker: Pick<BrokerContext, 'transactions' | 'topics' | 'store' | 'nodeId'>,
  transactionalId: string | null,
  topic: string,
  partition: Partition,
  batch: Buffer,
  add = false,
): void | Promise<void> {
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
  const who = { transactionalId, producerId: info.producerId, producerEpoch: info.producerEpoch };
  const code = inTransaction(broker, who, topic, partition.index, add);
  if (typeof code === 'number') return answer(code, who, topic, partition.index);
  return code.then((c) => answer(c, who, topic, partition.index));
}

/**
 * Asks the transaction's coordinator — this broker's, or the one on the broker leading the
 * transactional id's `__transaction_state` partition (AddPartitionsToTxn v5) — whether the
 * partition is in the producer's ongoing transaction, or with `add` to add it (transactions V2).
 * Its error code; NOT_COORDINATOR when no coordinator can be asked.
 */
export function inTransaction(
  broker: Pick<BrokerContext, 'transactions' | 'topics' | 'store' | 'nodeId'>,
  who: TxnIdentity,
  topic: string,
  partition: number,
  add: boolean,
): number | Promise<number> {
  const coordinator = broker.transactions.coordinator;
  const tp = [{ topic, partition }];
  if (coordinatorError(broker as BrokerContext, who.transactionalId) === ERROR_CODES.NONE) {
    return add ? coordinator.addPartitions(who, tp, TRANSACTIONS_V2) : coordinator.verifyPartitions(who, tp)[0];
  }
  const remote = broker.transactions.interBroker;
  const stateTopic = broker.store.image.topics.get(TRANSACTION_STATE_TOPIC);
  if (remote === null || stateTopic === undefined) return ERROR_CODES.NOT_COORDINATOR;
  const leader = broker.store.image.partition(
    stateTopic.topicId,
    coordinator.partitionFor(who.transactionalId),
  )?.leader;
  if (leader === undefined || leader < 0) return ERROR_CODES.NOT_COORDINATOR;
  return remote.verify(leader, who, topic, partition, add);
}

/** Throws what the produce answers for a coordinator's verdict (nothing for NONE). */
function answer(code: number, who: TxnIdentity, topic: string, partition: number): void {
  if (code === ERROR_CODES.NONE) return;
  // An older epoch is the producer's fencing, as the partition itself would answer it.
  if (code === ERROR_CODES.PRODUCER_FENCED || code === ERROR_CODES.INVALID_PRODUCER_EPOCH) {
    throw new KafkaError(
      ERROR_CODES.INVALID_PRODUCER_EPOCH,
      `Producer ${who.producerId} with epoch ${who.producerEpoch} is fenced`,
    );
  }
  // The coordinator could not be asked, or is busy: a produce error every client retries (Kafka's mapping).
  if (
    code === ERROR_CODES.CONCURRENT_TRANSACTIONS ||
    code === ERROR_CODES.NETWORK_EXCEPTION ||
    code === ERROR_CODES.NOT_COORDINATOR ||
    code === ERROR_CODES.COORDINATOR_NOT_AVAILABLE ||
    code === ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS
  ) {
    throw new KafkaError(
      ERROR_CODES.NOT_ENOUGH_REPLICAS,
      `The transaction coordinator of ${who.transactionalId} could not verify ${topic}-${partition} (error ${code})`,
    );
  }
  throw new KafkaError(
    ERROR_CODES.INVALID_TXN_STATE,
    `The partition ${topic}-${partition} is not in the ongoing transaction of ${who.transactionalId}`,
  );
}
