import {
  ConsumerGroupHeartbeatApi,
  type ConsumerGroupHeartbeatRequest,
  type ConsumerGroupHeartbeatResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { clientHostOf, clientIdOf, coordinates } from './common.js';

/** ConsumerGroupHeartbeat (KIP-848): the one request of the consumer group protocol. */
export function consumerGroupHeartbeatHandler(
  broker: BrokerContext,
): ApiHandler<ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse> {
  return {
    api: ConsumerGroupHeartbeatApi,
    minVersion: 0,
    // v1 adds SubscribedTopicRegex and has the client make its member id (KIP-1082).
    maxVersion: 1,
    async handle(req, ctx) {
      // Another broker leads the group's offsets partition: the client finds its coordinator again.
      if (!coordinates(broker, req.groupId)) {
        return { ...ConsumerGroupHeartbeatApi.response.defaults(), errorCode: ERROR_CODES.NOT_COORDINATOR };
      }
      const r = await broker.groups.consumerGroups.heartbeat({
        groupId: req.groupId,
        memberId: req.memberId,
        memberEpoch: req.memberEpoch,
        instanceId: req.instanceId,
        rackId: req.rackId,
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
        subscribedTopicNames: req.subscribedTopicNames,
        subscribedTopicRegex: ctx.apiVersion >= 1 ? req.subscribedTopicRegex : null,
        serverAssignor: req.serverAssignor,
        topicPartitions: req.topicPartitions,
        clientId: clientIdOf(ctx),
        clientHost: clientHostOf(ctx),
        apiVersion: ctx.apiVersion,
      });
      return { throttleTimeMs: 0, ...r };
    },
  };
}
