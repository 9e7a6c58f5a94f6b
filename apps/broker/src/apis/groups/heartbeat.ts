import { ERROR_CODES, HeartbeatApi, type HeartbeatRequest, type HeartbeatResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

export function heartbeatHandler(broker: BrokerContext): ApiHandler<HeartbeatRequest, HeartbeatResponse> {
  return {
    api: HeartbeatApi,
    minVersion: 0,
    maxVersion: 4,
    handle(req) {
      if (!coordinates(broker, req.groupId)) return { throttleTimeMs: 0, errorCode: ERROR_CODES.NOT_COORDINATOR };
      const p = {
        groupId: req.groupId,
        generationId: req.generationId,
        memberId: req.memberId,
        groupInstanceId: req.groupInstanceId,
      };
      // A classic member of a KIP-848 consumer group (mixed mode) is told from that group when to rejoin.
      const errorCode = broker.groups.consumerGroups.has(req.groupId)
        ? broker.groups.consumerGroups.classicHeartbeat(p)
        : broker.groups.coordinator.heartbeat(p);
      return { throttleTimeMs: 0, errorCode };
    },
  };
}
