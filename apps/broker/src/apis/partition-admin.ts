import {
  listReassignments,
  MAX_PARTITION_CHANGES_PER_REQUEST,
  type PartitionOutcome,
  planElectLeaders,
  planReassignment,
  writePartitionOutcomes,
} from '@sluice/cluster/core';
import {
  AlterPartitionReassignmentsApi,
  type AlterPartitionReassignmentsRequest,
  type AlterPartitionReassignmentsResponse,
  ElectLeadersApi,
  type ElectLeadersRequest,
  type ElectLeadersResponse,
  ERROR_CODES,
  KafkaError,
  ListPartitionReassignmentsApi,
  type ListPartitionReassignmentsRequest,
  type ListPartitionReassignmentsResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';

/*
 * The partition admin APIs. As Kafka forwards them to its controller, every broker serves them
 * here: the decisions are the controller's pure functions over the metadata image
 * (@sluice/cluster's partition-admin), and each change is a compare-and-swap on its partition epoch
 * fenced by this broker's registration — the same rule as topic writes, so no forwarding is needed.
 */

const PREFERRED = 0;
const UNCLEAN = 1;

/** Groups outcomes by topic in first-seen order (the response shape of both write APIs). */
function byTopic(outcomes: readonly PartitionOutcome[]): Map<string, PartitionOutcome[]> {
  const out = new Map<string, PartitionOutcome[]>();
  for (const o of outcomes) {
    const list = out.get(o.topic);
    if (list) list.push(o);
    else out.set(o.topic, [o]);
  }
  return out;
}

export function electLeadersHandler(broker: BrokerContext): ApiHandler<ElectLeadersRequest, ElectLeadersResponse> {
  return {
    api: ElectLeadersApi,
    minVersion: 0,
    maxVersion: 2,
    async handle(req, ctx) {
      // v0 has no election type: it is a preferred election.
      const type = ctx.apiVersion === 0 ? PREFERRED : req.electionType;
      const refused = (errorCode: number, message: string): ElectLeadersResponse => ({
        throttleTimeMs: 0,
        errorCode,
        replicaElectionResults: (req.topicPartitions ?? []).map((t) => ({
          topic: t.topic,
          partitionResult: t.partitions.map((partitionId) => ({ partitionId, errorCode, errorMessage: message })),
        })),
      });
      if (type !== PREFERRED && type !== UNCLEAN)
        return refused(ERROR_CODES.INVALID_REQUEST, `Unknown election type ${type}`);
      if (req.topicPartitions !== null && req.topicPartitions.length === 0) {
        return { throttleTimeMs: 0, errorCode: 0, replicaElectionResults: [] };
      }
      const kind = type === PREFERRED ? 'preferred' : 'unclean';
      const planned = planElectLeaders(broker.store.image, kind, req.topicPartitions);
      if (planned.filter((o) => o.next).length > MAX_PARTITION_CHANGES_PER_REQUEST) {
        return refused(ERROR_CODES.POLICY_VIOLATION, 'Excessively large number of partitions per request.');
      }
      let outcomes: PartitionOutcome[];
      try {
        outcomes = await writePartitionOutcomes(
          broker.store,
          broker.writeFence(),
          planned,
          (o) => planElectLeaders(broker.store.image, kind, [{ topic: o.topic, partitions: [o.partition] }])[0],
        );
      } catch (err) {
        return refused(errorCodeOf(err), errorMessageOf(err) ?? 'The election could not be written.');
      }
      const grouped = byTopic(outcomes);
      // Every topic is listed when every partition was asked for, even with nothing to report (as Kafka).
      const topics = req.topicPartitions === null ? [...broker.store.image.topics.keys()] : [...grouped.keys()];
      return {
        throttleTimeMs: 0,
        errorCode: 0,
        replicaElectionResults: topics.map((topic) => ({
          topic,
          partitionResult: (grouped.get(topic) ?? []).map((o) => ({
            partitionId: o.partition,
            errorCode: o.errorCode,
            errorMessage: o.errorCode === 0 ? null : o.message,
          })),
        })),
      };
    },
  };
}

export function alterPartitionReassignmentsHandler(
  broker: BrokerContext,
): ApiHandler<AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse> {
  return {
    api: AlterPartitionReassignmentsApi,
    minVersion: 0,
    // v1: AllowReplicationFactorChange (KIP-860).
    maxVersion: 1,
    async handle(req) {
      const uncleanFor = (topic: string) => broker.configs.topicConfig(topic)['unclean.leader.election.enable'];
      const decide = (topic: string, partition: number, replicas: number[] | null): PartitionOutcome => {
        try {
          const image = broker.store.image;
          if (replicas !== null) {
            const t = image.topics.get(topic);
            const current = t ? image.partition(t.topicId, partition) : undefined;
            if (current) {
              const originalFactor = current.replicas.length - current.addingReplicas.length;
              if (!req.allowReplicationFactorChange && replicas.length !== originalFactor) {
                throw new KafkaError(
                  ERROR_CODES.INVALID_REPLICATION_FACTOR,
                  `The replication factor is changed from ${originalFactor} to ${replicas.length}`,
                );
              }
            }
          }
          const next = planReassignment(image, topic, partition, replicas, uncleanFor(topic));
          // After Kafka's checks of the target (an invalid one answers as in Kafka).
          return { topic, partition, errorCode: 0, message: null, ...(next ? { next } : {}) };
        } catch (err) {
          const errorCode = errorCodeOf(err);
          // Kafka sends no message where it is the error's generic one (ApiError.fromThrowable).
          const generic = errorCode === ERROR_CODES.NO_REASSIGNMENT_IN_PROGRESS;
          return { topic, partition, errorCode, message: generic ? null : errorMessageOf(err) };
        }
      };
      const wanted = new Map<string, number[] | null>();
      const planned: PartitionOutcome[] = [];
      for (const t of req.topics) {
        for (const p of t.partitions) {
          wanted.set(`${t.name}\u0000${p.partitionIndex}`, p.replicas);
          planned.push(decide(t.name, p.partitionIndex, p.replicas));
        }
      }
      const response = (errorCode: number, errorMessage: string | null, outcomes: PartitionOutcome[]) => ({
        throttleTimeMs: 0,
        allowReplicationFactorChange: req.allowReplicationFactorChange,
        errorCode,
        errorMessage,
        responses: [...byTopic(outcomes)].map(([name, list]) => ({
          name,
          partitions: list.map((o) => ({
            partitionIndex: o.partition,
            errorCode: o.errorCode,
            errorMessage: o.errorCode === 0 ? null : o.message,
          })),
        })),
      });
      if (planned.length > MAX_PARTITION_CHANGES_PER_REQUEST) {
        const message = 'Excessively large number of partitions per request.';
        return response(
          ERROR_CODES.POLICY_VIOLATION,
          message,
          planned.map((o) => ({ ...o, errorCode: ERROR_CODES.POLICY_VIOLATION, message })),
        );
      }
      try {
        const outcomes = await writePartitionOutcomes(broker.store, broker.writeFence(), planned, (o) =>
          decide(o.topic, o.partition, wanted.get(`${o.topic}\u0000${o.partition}`) ?? null),
        );
        return response(0, null, outcomes);
      } catch (err) {
        const code = errorCodeOf(err);
        const message = errorMessageOf(err);
        return response(
          code,
          message,
          planned.map((o) => ({ ...o, errorCode: code, message })),
        );
      }
    },
  };
}

export function listPartitionReassignmentsHandler(
  broker: BrokerContext,
): ApiHandler<ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse> {
  return {
    api: ListPartitionReassignmentsApi,
    minVersion: 0,
    maxVersion: 0,
    handle(req) {
      return {
        throttleTimeMs: 0,
        errorCode: 0,
        errorMessage: null,
        topics: listReassignments(broker.store.image, req.topics).map((t) => ({
          name: t.name,
          partitions: t.partitions.map((p) => ({
            partitionIndex: p.partition,
            replicas: p.replicas,
            addingReplicas: p.addingReplicas,
            removingReplicas: p.removingReplicas,
          })),
        })),
      };
    },
  };
}
