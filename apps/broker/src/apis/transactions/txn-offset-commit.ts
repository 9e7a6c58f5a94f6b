import type { CommitPartition } from '@sluice/coordinator';
import {
  ERROR_CODES,
  TxnOffsetCommitApi,
  type TxnOffsetCommitRequest,
  type TxnOffsetCommitResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { OFFSETS_TOPIC } from '../groups/offsets-topic.js';
import { inTransaction } from './verify.js';

/**
 * TxnOffsetCommit (sent to the group's coordinator): the offsets are stored as part of the
 * producer's transaction and become the group's only when it commits.
 */
export function txnOffsetCommitHandler(
  broker: BrokerContext,
): ApiHandler<TxnOffsetCommitRequest, TxnOffsetCommitResponse> {
  return {
    api: TxnOffsetCommitApi,
    minVersion: 0,
    // v6 names topics by id (KIP-1319), not served yet.
    maxVersion: 5,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const all = (errorCode: number) => ({
        throttleTimeMs: 0,
        topics: req.topics.map((t) => ({
          name: t.name,
          topicId: t.topicId,
          partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode })),
        })),
      });
      // The group's offsets partition must be in the producer's ongoing transaction (AddOffsetsToTxn
      // first), as Kafka verifies it with the transaction's coordinator (here or on another broker);
      // from v5 (transactions V2) the group coordinator adds it instead (KIP-890 part 2).
      const code = await inTransaction(
        broker,
        { transactionalId: req.transactionalId, producerId: req.producerId, producerEpoch: req.producerEpoch },
        OFFSETS_TOPIC,
        broker.groups.coordinator.partitionFor(req.groupId),
        v >= 5,
      );
      if (code === ERROR_CODES.PRODUCER_FENCED) return all(ERROR_CODES.INVALID_PRODUCER_EPOCH);
      if (code === ERROR_CODES.CONCURRENT_TRANSACTIONS) return all(code);
      if (
        code === ERROR_CODES.NOT_COORDINATOR ||
        code === ERROR_CODES.COORDINATOR_NOT_AVAILABLE ||
        code === ERROR_CODES.COORDINATOR_LOAD_IN_PROGRESS ||
        code === ERROR_CODES.NETWORK_EXCEPTION
      ) {
        // The transaction's coordinator could not be asked: retriable (NOT_COORDINATOR would name the group's).
        return all(ERROR_CODES.COORDINATOR_NOT_AVAILABLE);
      }
      if (code !== ERROR_CODES.NONE) return all(ERROR_CODES.INVALID_TXN_STATE);
      const known: { name: string; partitions: CommitPartition[] }[] = [];
      for (const t of req.topics) {
        const partitions = t.partitions
          .filter((p) => broker.topics.hasPartition(t.name, p.partitionIndex))
          .map((p) => ({
            partitionIndex: p.partitionIndex,
            committedOffset: p.committedOffset,
            committedLeaderEpoch: v >= 2 ? p.committedLeaderEpoch : -1,
            committedMetadata: p.committedMetadata,
          }));
        if (partitions.length > 0) known.push({ name: t.name, partitions });
      }
      const results = await broker.groups.coordinator.commitTxnOffsets({
        groupId: req.groupId,
        generationId: v >= 3 ? req.generationIdOrMemberEpoch : -1,
        memberId: v >= 3 ? req.memberId : '',
        groupInstanceId: v >= 3 ? req.groupInstanceId : null,
        retentionTimeMs: -1,
        producerId: req.producerId,
        producerEpoch: req.producerEpoch,
        topics: known,
      });
      const codes = new Map<string, number>();
      for (const t of results)
        for (const p of t.partitions) codes.set(`${t.name}\u0000${p.partitionIndex}`, p.errorCode);
      return {
        throttleTimeMs: 0,
        topics: req.topics.map((t) => ({
          name: t.name,
          topicId: t.topicId,
          partitions: t.partitions.map((p) => ({
            partitionIndex: p.partitionIndex,
            errorCode: codes.get(`${t.name}\u0000${p.partitionIndex}`) ?? ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
          })),
        })),
      };
    },
  };
}
