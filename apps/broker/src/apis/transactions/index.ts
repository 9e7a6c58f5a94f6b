import type { TransactionCoordinator } from '@sluice/coordinator';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import type { TopicState } from '../../state/topic-manager.js';
import { addOffsetsToTxnHandler } from './add-offsets-to-txn.js';
import { addPartitionsToTxnHandler } from './add-partitions-to-txn.js';
import { describeTransactionsHandler } from './describe-transactions.js';
import { endTxnHandler } from './end-txn.js';
import type { TxnInterBroker } from './inter-broker.js';
import { listTransactionsHandler } from './list-transactions.js';
import { txnOffsetCommitHandler } from './txn-offset-commit.js';
import { writeTxnMarkersHandler } from './write-txn-markers.js';

export { TxnInterBroker } from './inter-broker.js';
export { writeMarkersLocally, writeMarkersToLeaders } from './markers.js';
export { createTransactionCoordinator, TRANSACTION_STATE_TOPIC } from './transaction-state-topic.js';

/** What the broker holds for transactions (BrokerContext.transactions). */
export interface TransactionServices {
  readonly coordinator: TransactionCoordinator;
  /** Creates `__transaction_state` if it does not exist yet. */
  ensureTransactionTopic(): TopicState;
  /** Markers and verifications to and from other brokers; null on a single node. */
  readonly interBroker: TxnInterBroker | null;
}

/** The handlers of the transaction APIs (InitProducerId and FindCoordinator live with their neighbours). */
export function transactionHandlers(broker: BrokerContext): ApiHandler[] {
  return [
    addPartitionsToTxnHandler(broker),
    addOffsetsToTxnHandler(broker),
    endTxnHandler(broker),
    txnOffsetCommitHandler(broker),
    writeTxnMarkersHandler(broker),
    describeTransactionsHandler(broker),
    listTransactionsHandler(broker),
  ];
}
