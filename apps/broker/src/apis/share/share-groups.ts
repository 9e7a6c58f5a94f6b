import {
  ERROR_CODES,
  ShareGroupDescribeApi,
  type ShareGroupDescribeRequest,
  type ShareGroupDescribeResponse,
  ShareGroupHeartbeatApi,
  type ShareGroupHeartbeatRequest,
  type ShareGroupHeartbeatResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { clientHostOf, clientIdOf, coordinates } from '../groups/common.js';
import type { ShareServices } from './share-services.js';

/** Without ACLs every group operation is allowed: READ (3), DELETE (6) and DESCRIBE (8), as a bit field. */
const GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);
const OMITTED_OPERATIONS = -2147483648;

/** ShareGroupHeartbeat (KIP-932): joins, stays in and leaves a share group; the answer carries the assignment. */
export function shareGroupHeartbeatHandler(
  broker: BrokerContext,
  shares: ShareServices,
): ApiHandler<ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse> {
  return {
    api: ShareGroupHeartbeatApi,
    minVersion: 1,
    maxVersion: 1,
    handle(req, ctx) {
      const none = { ...ShareGroupHeartbeatApi.response.defaults(), throttleTimeMs: 0 };
      // share.version 0: share groups are off, as in Kafka (the API answers UNSUPPORTED_VERSION).
      if (shares.shareVersion < 1) return { ...none, errorCode: ERROR_CODES.UNSUPPORTED_VERSION };
      if (!coordinates(broker, req.groupId)) return { ...none, errorCode: ERROR_CODES.NOT_COORDINATOR };
      // A group id taken by a group of another type.
      if (
        broker.groups.consumerGroups.has(req.groupId) ||
        broker.groups.coordinator.describeGroups([req.groupId])[0]?.state !== 'Dead'
      ) {
        return {
          ...none,
          errorCode: ERROR_CODES.GROUP_ID_NOT_FOUND,
          errorMessage: `Group ${req.groupId} is not a share group.`,
        };
      }
      const r = shares.coordinator.heartbeat({
        groupId: req.groupId,
        memberId: req.memberId,
        memberEpoch: req.memberEpoch,
        rackId: req.rackId,
        subscribedTopicNames: req.subscribedTopicNames,
        clientId: clientIdOf(ctx),
        clientHost: clientHostOf(ctx),
      });
      void shares.flush();
      return { throttleTimeMs: 0, ...r };
    },
  };
}

export function shareGroupDescribeHandler(
  broker: BrokerContext,
  shares: ShareServices,
): ApiHandler<ShareGroupDescribeRequest, ShareGroupDescribeResponse> {
  return {
    api: ShareGroupDescribeApi,
    minVersion: 1,
    maxVersion: 1,
    handle(req) {
      const ops = req.includeAuthorizedOperations ? GROUP_OPERATIONS : OMITTED_OPERATIONS;
      const groups = req.groupIds.map((groupId) => {
        const base = {
          errorCode: 0,
          errorMessage: null as string | null,
          groupId,
          groupState: '',
          groupEpoch: 0,
          assignmentEpoch: 0,
          assignorName: '',
          members: [],
          authorizedOperations: OMITTED_OPERATIONS,
        };
        if (shares.shareVersion < 1) return { ...base, errorCode: ERROR_CODES.UNSUPPORTED_VERSION };
        if (!coordinates(broker, groupId)) return { ...base, errorCode: ERROR_CODES.NOT_COORDINATOR };
        const d = shares.coordinator.describe([groupId])[0];
        if (d === undefined || 'errorCode' in d) {
          const other = broker.groups.consumerGroups.has(groupId);
          return {
            ...base,
            groupState: 'Dead',
            errorCode: ERROR_CODES.GROUP_ID_NOT_FOUND,
            errorMessage: other ? `Group ${groupId} is not a share group.` : `Group ${groupId} not found.`,
          };
        }
        return {
          ...base,
          groupState: d.groupState,
          groupEpoch: d.groupEpoch,
          assignmentEpoch: d.assignmentEpoch,
          assignorName: d.assignorName,
          authorizedOperations: ops,
          members: d.members.map((m) => ({
            memberId: m.memberId,
            rackId: m.rackId,
            memberEpoch: m.memberEpoch,
            clientId: m.clientId,
            clientHost: m.clientHost,
            subscribedTopicNames: m.subscribedTopicNames,
            assignment: { topicPartitions: m.assignment },
          })),
        };
      });
      return { throttleTimeMs: 0, groups };
    },
  };
}
