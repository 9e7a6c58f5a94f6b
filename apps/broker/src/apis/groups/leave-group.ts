import { ERROR_CODES, LeaveGroupApi, type LeaveGroupRequest, type LeaveGroupResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

export function leaveGroupHandler(broker: BrokerContext): ApiHandler<LeaveGroupRequest, LeaveGroupResponse> {
  return {
    api: LeaveGroupApi,
    minVersion: 0,
    maxVersion: 5,
    async handle(req, ctx) {
      if (!coordinates(broker, req.groupId)) {
        return { throttleTimeMs: 0, errorCode: ERROR_CODES.NOT_COORDINATOR, members: [] };
      }
      const batched = ctx.apiVersion >= 3;
      const members = batched
        ? req.members.map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId }))
        : [{ memberId: req.memberId, groupInstanceId: null }];
      // Classic members of a KIP-848 consumer group (mixed mode) leave that group.
      const r = broker.groups.consumerGroups.has(req.groupId)
        ? await broker.groups.consumerGroups.classicLeave(req.groupId, members)
        : broker.groups.coordinator.leaveGroup(req.groupId, members);
      if (batched) return { throttleTimeMs: 0, errorCode: r.errorCode, members: r.members };
      // Before v3 the one member's error is the response's error.
      const errorCode = r.errorCode !== 0 ? r.errorCode : (r.members[0]?.errorCode ?? 0);
      return { throttleTimeMs: 0, errorCode, members: [] };
    },
  };
}
