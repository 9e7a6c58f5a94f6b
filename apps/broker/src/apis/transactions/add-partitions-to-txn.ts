import type { TopicPartitionRef } from '@sluice/coordinator';
import {
  AddPartitionsToTxnApi,
  type AddPartitionsToTxnRequest,
  type AddPartitionsToTxnRequestAddPartitionsToTxnTopic,
  type AddPartitionsToTxnResponse,
  type AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult,
  ERROR_CODES,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinatorError, forVersion } from './common.js';
import { TRANSACTIONS_V2 } from './verify.js';

/** A bound on transactions in one batched (v4+) request. */
const MAX_TRANSACTIONS = 10_000;

/**
 * AddPartitionsToTxn: v0-v3 from producers (one transaction, its partitions join it), v4+ from
 * brokers (KIP-890 part 1: batched, and `verifyOnly` asks whether the partitions are already in it).
 */
export function addPartitionsToTxnHandler(
  broker: BrokerContext,
): ApiHandler<AddPartitionsToTxnRequest, AddPartitionsToTxnResponse> {
  /** Partition errors by topic: unknown partitions get UNKNOWN_TOPIC_OR_PARTITION and the rest OPERATION_NOT_ATTEMPTED, as Kafka answers. */
  const results = (
    topics: AddPartitionsToTxnRequestAddPartitionsToTxnTopic[],
    codeOf: (topic: string, partition: number) => number,
  ): AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult[] =>
    topics.map((t) => ({
      name: t.name,
      resultsByPartition: t.partitions.map((p) => ({ partitionIndex: p, partitionErrorCode: codeOf(t.name, p) })),
    }));

  const addOne = async (
    transactionalId: string,
    producerId: bigint,
    producerEpoch: number,
    topics: AddPartitionsToTxnRequestAddPartitionsToTxnTopic[],
    verifyOnly: boolean,
    version: number,
  ): Promise<AddPartitionsToTxnResponseAddPartitionsToTxnTopicResult[]> => {
    const notCoordinator = coordinatorError(broker, transactionalId);
    if (notCoordinator !== ERROR_CODES.NONE) return results(topics, () => notCoordinator);
    const partitions: TopicPartitionRef[] = topics.flatMap((t) =>
      t.partitions.map((partition) => ({ topic: t.name, partition })),
    );
    const who = { transactionalId, producerId, producerEpoch };
    if (verifyOnly) {
      const codes = broker.transactions.coordinator.verifyPartitions(who, partitions);
      let i = 0;
      return results(topics, () => codes[i++]);
    }
    const unknown = partitions.filter((tp) => !broker.topics.hasPartition(tp.topic, tp.partition));
    if (unknown.length > 0) {
      const bad = new Set(unknown.map((tp) => `${tp.topic}\u0000${tp.partition}`));
      return results(topics, (t, p) =>
        bad.has(`${t}\u0000${p}`) ? ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION : ERROR_CODES.OPERATION_NOT_ATTEMPTED,
      );
    }
    // v5 from a partition leader adds for a transactions V2 producer (KIP-890 part 2).
    const clientTransactionVersion = version >= 5 ? TRANSACTIONS_V2 : 0;
    const code = forVersion(
      await broker.transactions.coordinator.addPartitions(who, partitions, clientTransactionVersion),
      version,
      2,
    );
    return results(topics, () => code);
  };

  return {
    api: AddPartitionsToTxnApi,
    minVersion: 0,
    maxVersion: 5,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      if (v <= 3) {
        const topics = await addOne(
          req.v3AndBelowTransactionalId,
          req.v3AndBelowProducerId,
          req.v3AndBelowProducerEpoch,
          req.v3AndBelowTopics,
          false,
          v,
        );
        return {
          ...AddPartitionsToTxnApi.response.defaults(),
          throttleTimeMs: 0,
          resultsByTransaction: [],
          resultsByTopicV3AndBelow: topics,
        };
      }
      if (req.transactions.length > MAX_TRANSACTIONS) {
        return {
          ...AddPartitionsToTxnApi.response.defaults(),
          throttleTimeMs: 0,
          errorCode: ERROR_CODES.INVALID_REQUEST,
          resultsByTransaction: [],
        };
      }
      const resultsByTransaction = [];
      for (const t of req.transactions) {
        resultsByTransaction.push({
          transactionalId: t.transactionalId,
          topicResults: await addOne(t.transactionalId, t.producerId, t.producerEpoch, t.topics, t.verifyOnly, v),
        });
      }
      return { ...AddPartitionsToTxnApi.response.defaults(), throttleTimeMs: 0, errorCode: 0, resultsByTransaction };
    },
  };
}
