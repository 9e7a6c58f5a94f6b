import {
  CreateTopicsApi,
  type CreateTopicsRequest,
  type CreateTopicsRequestCreatableTopic,
  type CreateTopicsResponse,
  type CreateTopicsResponseCreatableTopicResult,
  ERROR_CODES,
  KafkaError,
} from '@sluice/protocol';
import { ConfigResourceType, ConfigSource } from '../config/index.js';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

export function createTopicsHandler(broker: BrokerContext): ApiHandler<CreateTopicsRequest, CreateTopicsResponse> {
  /** Partition count of a request entry, after Kafka's checks of the count, factor and assignments. */
  const partitionCount = (t: CreateTopicsRequestCreatableTopic): { partitions: number; replicationFactor: number } => {
    if (t.assignments.length > 0) {
      if (t.numPartitions !== -1 || t.replicationFactor !== -1) {
        throw new KafkaError(
          ERROR_CODES.INVALID_REQUEST,
          'Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.',
        );
      }
      t.assignments.forEach((a, i) => {
        if (a.partitionIndex !== i) {
          throw new KafkaError(
            ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
            'Partitions should be a consecutive 0-based integer sequence',
          );
        }
        if (a.brokerIds.length === 0 || a.brokerIds.some((b) => b !== broker.nodeId) || a.brokerIds.length > 1) {
          throw new KafkaError(
            ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
            `Replica assignment ${JSON.stringify(a.brokerIds)} names brokers other than the only one, ${broker.nodeId}`,
          );
        }
      });
      return { partitions: t.assignments.length, replicationFactor: 1 };
    }
    const partitions = t.numPartitions === -1 ? broker.config.get('num.partitions') : t.numPartitions;
    const replicationFactor =
      t.replicationFactor === -1 ? broker.config.get('default.replication.factor') : t.replicationFactor;
    if (partitions < 1) {
      throw new KafkaError(
        ERROR_CODES.INVALID_PARTITIONS,
        'Number of partitions was set to an invalid non-positive value.',
      );
    }
    if (replicationFactor < 1) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REPLICATION_FACTOR,
        'Replication factor must be larger than 0, or -1 to use the default value.',
      );
    }
    if (replicationFactor > 1) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REPLICATION_FACTOR,
        `Unable to replicate the partition ${replicationFactor} time(s): The target replication factor of ${replicationFactor} cannot be reached because only 1 broker(s) are registered.`,
      );
    }
    return { partitions, replicationFactor };
  };

  return {
    api: CreateTopicsApi,
    // v0-v1 were removed in Kafka 4 (KIP-896).
    minVersion: 2,
    maxVersion: 7,
    handle(req, ctx) {
      const counts = new Map<string, number>();
      for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
      const topics = req.topics.map((t): CreateTopicsResponseCreatableTopicResult => {
        const result: CreateTopicsResponseCreatableTopicResult = {
          name: t.name,
          topicId: ZERO_UUID,
          errorCode: 0,
          errorMessage: null,
          topicConfigErrorCode: 0,
          numPartitions: -1,
          replicationFactor: -1,
          configs: null,
        };
        if ((counts.get(t.name) ?? 0) > 1) {
          return {
            ...result,
            errorCode: ERROR_CODES.INVALID_REQUEST,
            errorMessage: `Create topics request from client \`${ctx.header.clientId}\` contains multiple entries for the following topics: ${t.name}`,
          };
        }
        try {
          const { partitions, replicationFactor } = partitionCount(t);
          broker.topics.validateCreate(t.name, partitions);
          const overrides = broker.configs.validateNewTopic(t.configs);
          let topicId = ZERO_UUID;
          if (!req.validateOnly) topicId = broker.topics.create(t.name, partitions, overrides).topicId;
          const described = broker.configs.describeConfigs([
            { resourceType: ConfigResourceType.TOPIC, resourceName: t.name, configurationKeys: null },
          ])[0];
          return {
            ...result,
            topicId,
            numPartitions: partitions,
            replicationFactor,
            // Describe shows the broker's view; the request's overrides win (the topic may not exist yet).
            configs: described.configs.map((c) => {
              const overridden = Object.hasOwn(overrides, c.name);
              return {
                name: c.name,
                value: overridden ? overrides[c.name] : c.value,
                readOnly: c.readOnly,
                configSource: overridden ? ConfigSource.DYNAMIC_TOPIC_CONFIG : c.configSource,
                isSensitive: c.isSensitive,
              };
            }),
          };
        } catch (err) {
          return { ...result, errorCode: errorCodeOf(err), errorMessage: errorMessageOf(err) };
        }
      });
      return { throttleTimeMs: 0, topics };
    },
  };
}
