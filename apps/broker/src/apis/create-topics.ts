import { randomUUID } from 'node:crypto';
import {
  CreateTopicsApi,
  type CreateTopicsRequest,
  type CreateTopicsRequestCreatableTopic,
  type CreateTopicsResponse,
  type CreateTopicsResponseCreatableTopicResult,
  ERROR_CODES,
  KafkaError,
  ZERO_UUID,
} from '@sluice/protocol';
import { ConfigResourceType, ConfigSource } from '../config/index.js';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';
import type { MutationQuotaContext } from './quota-enforcement.js';

/** Kafka's controller writes at most this many records for one request (MAX_RECORDS_PER_USER_OP). */
const MAX_PARTITIONS_PER_REQUEST = 10_000;

export function createTopicsHandler(broker: BrokerContext): ApiHandler<CreateTopicsRequest, CreateTopicsResponse> {
  /**
   * Partition count, replication factor and replica lists of a request entry, after Kafka's checks
   * (ReplicationControlManager.createTopic): explicit assignments with -1 for both counts, partition
   * indexes 0..n-1 once each, then the lists themselves (TopicManager.assignmentsFor).
   */
  const plan = (
    t: CreateTopicsRequestCreatableTopic,
  ): { partitions: number; replicationFactor: number; assignments?: number[][] } => {
    if (t.assignments.length > 0) {
      if (t.replicationFactor !== -1) {
        throw new KafkaError(
          ERROR_CODES.INVALID_REQUEST,
          'A manual partition assignment was specified, but replication factor was not set to -1.',
        );
      }
      if (t.numPartitions !== -1) {
        throw new KafkaError(
          ERROR_CODES.INVALID_REQUEST,
          'A manual partition assignment was specified, but numPartitions was not set to -1.',
        );
      }
      const byIndex = new Map<number, number[]>();
      for (const a of t.assignments) {
        if (byIndex.has(a.partitionIndex)) {
          throw new KafkaError(
            ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
            `Found multiple manual partition assignments for partition ${a.partitionIndex}`,
          );
        }
        byIndex.set(a.partitionIndex, a.brokerIds);
      }
      const lists: number[][] = [];
      for (let i = 0; i < byIndex.size; i++) {
        const replicas = byIndex.get(i);
        if (replicas === undefined) {
          throw new KafkaError(
            ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
            'partitions should be a consecutive 0-based integer sequence',
          );
        }
        lists.push(replicas);
      }
      broker.topics.validateCreate(t.name, lists.length);
      const assignments = broker.topics.assignmentsFor(lists.length, -1, lists);
      return { partitions: assignments.length, replicationFactor: assignments[0].length, assignments };
    }
    if (t.replicationFactor < -1 || t.replicationFactor === 0) {
      throw new KafkaError(
        ERROR_CODES.INVALID_REPLICATION_FACTOR,
        'Replication factor must be larger than 0, or -1 to use the default value.',
      );
    }
    if (t.numPartitions < -1 || t.numPartitions === 0) {
      throw new KafkaError(
        ERROR_CODES.INVALID_PARTITIONS,
        'Number of partitions was set to an invalid non-positive value.',
      );
    }
    const partitions = t.numPartitions === -1 ? broker.config.get('num.partitions') : t.numPartitions;
    const replicationFactor =
      t.replicationFactor === -1 ? broker.config.get('default.replication.factor') : t.replicationFactor;
    broker.topics.validateCreate(t.name, partitions);
    const assignments = broker.topics.assignmentsFor(partitions, replicationFactor);
    return { partitions, replicationFactor, assignments };
  };

  return {
    api: CreateTopicsApi,
    // v0-v1 were removed in Kafka 4 (KIP-896).
    minVersion: 2,
    maxVersion: 7,
    async handle(req, ctx: MutationQuotaContext) {
      const failed = (name: string, errorCode: number, errorMessage: string | null) =>
        ({
          name,
          topicId: ZERO_UUID,
          errorCode,
          errorMessage,
          topicConfigErrorCode: 0,
          numPartitions: -1,
          replicationFactor: -1,
          // v5+: Kafka sends an empty Configs array (not null) for a topic it did not create.
          configs: [],
        }) satisfies CreateTopicsResponseCreatableTopicResult;

      // A name given twice is refused once, after the other results, and creates nothing (as Kafka's controller).
      const seen = new Set<string>();
      const duplicates = new Set<string>();
      for (const t of req.topics) {
        if (seen.has(t.name)) duplicates.add(t.name);
        seen.add(t.name);
      }
      const unique = req.topics.filter((t) => !duplicates.has(t.name));
      // Kafka's controller refuses the whole request when its partitions exceed one batch of records.
      let total = 0;
      for (const t of unique) {
        if (t.assignments.length > 0) total += t.assignments.length;
        else if (t.numPartitions === -1) total += broker.config.get('num.partitions');
        else if (t.numPartitions > 0) total += t.numPartitions;
      }
      if (total > MAX_PARTITIONS_PER_REQUEST) {
        const message = 'Excessively large number of partitions per request.';
        return {
          throttleTimeMs: 0,
          topics: req.topics.map((t) => failed(t.name, ERROR_CODES.POLICY_VIOLATION, message)),
        };
      }

      const results = unique.map(async (t): Promise<CreateTopicsResponseCreatableTopicResult> => {
        try {
          broker.topics.validateNewName(t.name);
          const overrides = broker.configs.validateNewTopic(t.configs);
          const { partitions, replicationFactor, assignments } = plan(t);
          // KIP-599: charged once the topic is valid, before it is created (refused here when strict and in debt).
          ctx.mutationQuota?.record(partitions);
          // Validate-only answers carry a fresh id too, as Kafka's controller draws one before deciding.
          const topicId = req.validateOnly
            ? randomUUID()
            : (await broker.topics.createAsync(t.name, partitions, overrides, assignments)).topicId;
          const described = broker.configs.describeConfigs([
            { resourceType: ConfigResourceType.TOPIC, resourceName: t.name, configurationKeys: null },
          ])[0];
          return {
            name: t.name,
            topicId,
            errorCode: 0,
            errorMessage: null,
            topicConfigErrorCode: 0,
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
          broker.logDir.noteError(err, `creating topic ${t.name}`);
          return failed(t.name, errorCodeOf(err), errorMessageOf(err));
        }
      });
      const topics = await Promise.all(results);
      for (const name of duplicates) topics.push(failed(name, ERROR_CODES.INVALID_REQUEST, 'Duplicate topic name.'));
      return { throttleTimeMs: 0, topics };
    },
  };
}
