import { parseShareCoordinatorKey } from '@sluice/coordinator';
import {
  ERROR_CODES,
  errorByCode,
  FindCoordinatorApi,
  type FindCoordinatorRequest,
  type FindCoordinatorResponse,
  type FindCoordinatorResponseCoordinator,
  KafkaError,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import type { TopicState } from '../../state/topic-manager.js';
import { leaderEndpoint } from '../cluster-view.js';

const GROUP = 0;
const TRANSACTION = 1;
/** KIP-932: the share coordinator of a share-partition, keyed "groupId:topicId:partition" (v6+, brokers ask). */
const SHARE = 2;
/** A bound on keys answered in one batched request. */
const MAX_KEYS = 10_000;

/**
 * FindCoordinator: a group's coordinator is the leader of its `__consumer_offsets` partition, a transactional id's the leader of its
 * `__transaction_state` partition. Batched keys from v4 (KIP-699).
 */
export function findCoordinatorHandler(
  broker: BrokerContext,
): ApiHandler<FindCoordinatorRequest, FindCoordinatorResponse> {
  const notAvailable = (key: string): FindCoordinatorResponseCoordinator => ({
    key,
    nodeId: -1,
    host: '',
    port: -1,
    errorCode: ERROR_CODES.COORDINATOR_NOT_AVAILABLE,
    errorMessage: errorByCode(ERROR_CODES.COORDINATOR_NOT_AVAILABLE)?.message ?? null,
  });
  const lookup = (key: string, keyType: number, listener?: string): FindCoordinatorResponseCoordinator => {
    const none = { key, nodeId: -1, host: '', port: -1 };
    if (keyType === GROUP || keyType === TRANSACTION) {
      // Kafka creates the offsets (or transaction state) topic when a coordinator is first looked up.
      let offsets: TopicState;
      try {
        offsets = keyType === GROUP ? broker.groups.ensureOffsetsTopic() : broker.transactions.ensureTransactionTopic();
      } catch (err) {
        // In a cluster the topic is being created (asynchronously): retriable.
        if (err instanceof KafkaError && err.code === ERROR_CODES.LEADER_NOT_AVAILABLE) return notAvailable(key);
        // It cannot be created (a full disk): the coordinator is not available yet.
        broker.logDir.noteError(err, 'creating __consumer_offsets');
        const errorCode = ERROR_CODES.COORDINATOR_NOT_AVAILABLE;
        return { ...none, errorCode, errorMessage: `${errorByCode(errorCode)?.message} (${(err as Error).message})` };
      }
      // The coordinator of a group is the leader of its offsets partition (of a transaction, of its state partition).
      const partition =
        keyType === GROUP
          ? broker.groups.coordinator.partitionFor(key)
          : broker.transactions.coordinator.partitionFor(key);
      const leader = leaderEndpoint(broker, offsets.topicId, partition, listener);
      if (leader === null) return notAvailable(key);
      return {
        key,
        nodeId: leader.nodeId,
        host: leader.host,
        port: leader.port,
        errorCode: ERROR_CODES.NONE,
        errorMessage: 'NONE',
      };
    }
    if (keyType === SHARE && broker.groups.shareGroups !== undefined) {
      const state = broker.groups.shareGroups.state;
      const k = parseShareCoordinatorKey(key);
      if (k === null) {
        return { ...none, errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: `Invalid coordinator key ${key}` };
      }
      let topic: TopicState;
      try {
        topic = state.ensureStateTopic();
      } catch (err) {
        if (!(err instanceof KafkaError && err.code === ERROR_CODES.LEADER_NOT_AVAILABLE)) {
          broker.logDir.noteError(err, 'creating __share_group_state');
        }
        return notAvailable(key);
      }
      const leader = leaderEndpoint(broker, topic.topicId, state.coordinator.partitionFor(k), listener);
      if (leader === null) return notAvailable(key);
      return { key, nodeId: leader.nodeId, host: leader.host, port: leader.port, errorCode: 0, errorMessage: 'NONE' };
    }
    return { ...none, errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: `Unknown coordinator type ${keyType}` };
  };
  return {
    api: FindCoordinatorApi,
    minVersion: 0,
    maxVersion: 6,
    handle(req, ctx) {
      if (ctx.apiVersion >= 4) {
        // Batched answers carry an empty message on success, where v1-v3 say "NONE" (as Kafka does).
        const coordinators = req.coordinatorKeys
          .slice(0, MAX_KEYS)
          .map((k) => lookup(k, req.keyType, ctx.connection.listener))
          .map((c) => (c.errorCode === ERROR_CODES.NONE ? { ...c, errorMessage: '' } : c));
        return { ...FindCoordinatorApi.response.defaults(), throttleTimeMs: 0, coordinators };
      }
      const c = lookup(req.key, req.keyType, ctx.connection.listener);
      return {
        ...FindCoordinatorApi.response.defaults(),
        throttleTimeMs: 0,
        errorCode: c.errorCode,
        errorMessage: ctx.apiVersion >= 1 ? c.errorMessage : null,
        nodeId: c.nodeId,
        host: c.host,
        port: c.port,
      };
    },
  };
}
