import {
  DeleteTopicsApi,
  type DeleteTopicsRequest,
  type DeleteTopicsResponse,
  type DeleteTopicsResponseDeletableTopicResult,
  ERROR_CODES,
  ZERO_UUID,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { INTERNAL_TOPICS } from '../state/topic-manager.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';
import type { MutationQuotaContext } from './quota-enforcement.js';

export function deleteTopicsHandler(broker: BrokerContext): ApiHandler<DeleteTopicsRequest, DeleteTopicsResponse> {
  const deleteOne = async (
    name: string | null,
    topicId: string,
    byId: boolean,
    ctx: MutationQuotaContext,
  ): Promise<DeleteTopicsResponseDeletableTopicResult> => {
    const result = { name, topicId, errorCode: 0, errorMessage: null as string | null };
    const topic = name !== null ? broker.topics.get(name) : broker.topics.getById(topicId);
    if (topic === undefined) {
      return {
        ...result,
        errorCode: byId && name === null ? ERROR_CODES.UNKNOWN_TOPIC_ID : ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
      };
    }
    if (name !== null && topicId !== ZERO_UUID && topic.topicId !== topicId) {
      return { ...result, errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: 'Both topic name and id were given' };
    }
    if (!broker.config.get('delete.topic.enable')) {
      return { ...result, errorCode: ERROR_CODES.TOPIC_DELETION_DISABLED };
    }
    if (INTERNAL_TOPICS.has(topic.name)) {
      return { ...result, name: topic.name, errorCode: ERROR_CODES.TOPIC_AUTHORIZATION_FAILED };
    }
    try {
      // KIP-599: a deleted topic's partitions count against controller_mutation_rate.
      ctx.mutationQuota?.record(topic.partitions.length);
      await broker.topics.deleteAsync(topic.name);
      broker.fetchSessions.forgetTopic(topic.name);
      return { ...result, name: topic.name, topicId: topic.topicId };
    } catch (err) {
      return { ...result, errorCode: errorCodeOf(err), errorMessage: errorMessageOf(err) };
    }
  };

  return {
    api: DeleteTopicsApi,
    // v0 was removed in Kafka 4 (KIP-896).
    minVersion: 1,
    maxVersion: 6,
    async handle(req, ctx) {
      const responses = await Promise.all(
        ctx.apiVersion >= 6
          ? req.topics.map((t) => deleteOne(t.name, t.topicId, true, ctx))
          : req.topicNames.map((n) => deleteOne(n, ZERO_UUID, false, ctx)),
      );
      return { throttleTimeMs: 0, responses };
    },
  };
}
