import { ERROR_CODES, SyncGroupApi, type SyncGroupRequest, type SyncGroupResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

export function syncGroupHandler(broker: BrokerContext): ApiHandler<SyncGroupRequest, SyncGroupResponse> {
  return {
    api: SyncGroupApi,
    minVersion: 0,
    maxVersion: 5,
    async handle(req, ctx) {
      // From v5 the protocol type and name are mandatory (KIP-559).
      if (ctx.apiVersion >= 5 && (req.protocolType === null || req.protocolName === null)) {
        return {
          throttleTimeMs: 0,
          errorCode: ERROR_CODES.INCONSISTENT_GROUP_PROTOCOL,
          protocolType: null,
          protocolName: null,
          assignment: Buffer.alloc(0),
        };
      }
      if (!coordinates(broker, req.groupId)) {
        return {
          throttleTimeMs: 0,
          errorCode: ERROR_CODES.NOT_COORDINATOR,
          protocolType: null,
          protocolName: null,
          assignment: Buffer.alloc(0),
        };
      }
      // A classic member of a KIP-848 consumer group (mixed mode) gets its assignment from that group.
      const r = broker.groups.consumerGroups.has(req.groupId)
        ? broker.groups.consumerGroups.classicSync(req)
        : await broker.groups.coordinator.syncGroup({
            groupId: req.groupId,
            generationId: req.generationId,
            memberId: req.memberId,
            groupInstanceId: req.groupInstanceId,
            protocolType: req.protocolType,
            protocolName: req.protocolName,
            assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: Buffer.from(a.assignment) })),
          });
      return {
        throttleTimeMs: 0,
        errorCode: r.errorCode,
        protocolType: r.protocolType,
        protocolName: r.protocolName,
        assignment: r.assignment,
      };
    },
  };
}
