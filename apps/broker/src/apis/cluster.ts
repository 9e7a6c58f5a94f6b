import { statfsSync } from 'node:fs';
import {
  DescribeClusterApi,
  type DescribeClusterRequest,
  type DescribeClusterResponse,
  DescribeLogDirsApi,
  type DescribeLogDirsRequest,
  type DescribeLogDirsResponse,
  DescribeProducersApi,
  type DescribeProducersRequest,
  type DescribeProducersResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { clusterBrokers, controllerId } from './cluster-view.js';
import { ALL_CLUSTER_OPERATIONS, OPERATIONS_NOT_REQUESTED } from './constants.js';

/** DescribeCluster endpoint types: brokers (1) and controllers (2). */
const ENDPOINT_BROKERS = 1;

export function describeClusterHandler(
  broker: BrokerContext,
): ApiHandler<DescribeClusterRequest, DescribeClusterResponse> {
  return {
    api: DescribeClusterApi,
    minVersion: 0,
    // v2: fenced brokers on request (KIP-1073); a single live node is never fenced.
    maxVersion: 2,
    handle(req, ctx) {
      const response: DescribeClusterResponse = {
        throttleTimeMs: 0,
        errorCode: 0,
        errorMessage: null,
        endpointType: req.endpointType,
        clusterId: broker.clusterId,
        controllerId: controllerId(broker),
        brokers: clusterBrokers(broker, ctx.connection.listener).map(({ nodeId, host, port, rack }) => ({
          brokerId: nodeId,
          host,
          port,
          rack,
          isFenced: false,
        })),
        clusterAuthorizedOperations: req.includeClusterAuthorizedOperations
          ? ALL_CLUSTER_OPERATIONS
          : OPERATIONS_NOT_REQUESTED,
      };
      if (req.endpointType !== ENDPOINT_BROKERS) {
        return {
          ...response,
          errorCode: ERROR_CODES.UNSUPPORTED_ENDPOINT_TYPE,
          errorMessage:
            'The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER',
          brokers: [],
        };
      }
      return response;
    },
  };
}

export function describeLogDirsHandler(
  broker: BrokerContext,
): ApiHandler<DescribeLogDirsRequest, DescribeLogDirsResponse> {
  return {
    api: DescribeLogDirsApi,
    // v0 was removed in Kafka 4 (KIP-896).
    minVersion: 1,
    // v5 adds IsCordoned (KIP-1066); Sluice's one log dir is never cordoned.
    maxVersion: 5,
    handle(req) {
      const wanted = req.topics === null ? null : new Map(req.topics.map((t) => [t.topic, new Set(t.partitions)]));
      const topics = [];
      for (const t of broker.topics.all()) {
        const parts = wanted === null ? null : wanted.get(t.name);
        if (wanted !== null && parts === undefined) continue;
        const partitions = t.partitions
          .map((p, i) => ({ p, i }))
          .filter(({ i }) => parts === null || parts === undefined || parts.has(i))
          .flatMap(({ p, i }) => (p === undefined ? [] : [{ p, i }]))
          .map(({ p, i }) => ({
            partitionIndex: i,
            partitionSize: BigInt(p.log.size),
            offsetLag: 0n,
            isFutureKey: false,
          }));
        if (partitions.length > 0) topics.push({ name: t.name, partitions });
      }
      const dir = broker.config.logDirs[0];
      let totalBytes = -1n;
      let usableBytes = -1n;
      try {
        const s = statfsSync(dir, { bigint: true });
        totalBytes = s.blocks * s.bsize;
        usableBytes = s.bavail * s.bsize;
      } catch {
        // Sizes stay unknown (-1), as Kafka reports them when it cannot read them.
      }
      return {
        throttleTimeMs: 0,
        errorCode: 0,
        results: [{ errorCode: 0, logDir: dir, topics, totalBytes, usableBytes, isCordoned: false }],
      };
    },
  };
}

export function describeProducersHandler(
  broker: BrokerContext,
): ApiHandler<DescribeProducersRequest, DescribeProducersResponse> {
  return {
    api: DescribeProducersApi,
    minVersion: 0,
    maxVersion: 0,
    handle(req) {
      return {
        throttleTimeMs: 0,
        topics: req.topics.map((t) => ({
          name: t.name,
          partitions: t.partitionIndexes.map((i) => {
            const partition = broker.topics.partition(t.name, i);
            if (partition === undefined) {
              return {
                partitionIndex: i,
                errorCode: ERROR_CODES.UNKNOWN_TOPIC_OR_PARTITION,
                errorMessage: null,
                activeProducers: [],
              };
            }
            const activeProducers = [...partition.producers.entries()].map((e) => ({
              producerId: e.producerId,
              producerEpoch: e.epoch,
              lastSequence: e.batches.length > 0 ? e.batches[e.batches.length - 1].lastSeq : -1,
              lastTimestamp: e.lastTimestamp,
              coordinatorEpoch: e.coordinatorEpoch,
              currentTxnStartOffset: e.currentTxnFirstOffset,
            }));
            return { partitionIndex: i, errorCode: 0, errorMessage: null, activeProducers };
          }),
        })),
      };
    },
  };
}
