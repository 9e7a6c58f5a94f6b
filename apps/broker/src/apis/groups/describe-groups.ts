import {
  DescribeGroupsApi,
  type DescribeGroupsRequest,
  type DescribeGroupsResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

/** Without ACLs every group operation is allowed: READ (3), DELETE (6) and DESCRIBE (8), as a bit field. */
const GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);
const OMITTED_OPERATIONS = -2147483648;

export function describeGroupsHandler(
  broker: BrokerContext,
): ApiHandler<DescribeGroupsRequest, DescribeGroupsResponse> {
  return {
    api: DescribeGroupsApi,
    minVersion: 0,
    // v6 answers a group that does not exist with GROUP_ID_NOT_FOUND instead of a Dead group (KIP-1043).
    maxVersion: 6,
    handle(req, ctx) {
      const withOps = ctx.apiVersion >= 3 && req.includeAuthorizedOperations;
      // Groups another broker coordinates get Kafka's error entry (empty state, no members).
      const ours = req.groups.filter((g) => coordinates(broker, g));
      const described = new Map(broker.groups.coordinator.describeGroups(ours).map((g) => [g.groupId, g]));
      const groups = req.groups.map((groupId) => {
        const g = described.get(groupId);
        if (g === undefined) {
          return {
            errorCode: ERROR_CODES.NOT_COORDINATOR,
            errorMessage: null,
            groupId,
            groupState: '',
            protocolType: '',
            protocolData: '',
            members: [],
            authorizedOperations: OMITTED_OPERATIONS,
          };
        }
        // A KIP-848 consumer group is not a classic group: Kafka describes it as a Dead one (v6: not found).
        const consumer =
          broker.groups.consumerGroups.has(g.groupId) ||
          (broker.groups.shareGroups?.coordinator.has(g.groupId) ?? false);
        const notFound = ctx.apiVersion >= 6 && ((g.errorCode === 0 && g.state === 'Dead') || consumer);
        return {
          errorCode: notFound ? ERROR_CODES.GROUP_ID_NOT_FOUND : g.errorCode,
          errorMessage: notFound
            ? consumer
              ? `Group ${g.groupId} is not a classic group.`
              : `Group ${g.groupId} not found.`
            : null,
          groupId: g.groupId,
          groupState: consumer ? 'Dead' : g.state,
          protocolType: consumer ? '' : g.protocolType,
          protocolData: consumer ? '' : g.protocolName,
          members: (consumer ? [] : g.members).map((m) => ({
            memberId: m.memberId,
            groupInstanceId: m.groupInstanceId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            memberMetadata: m.metadata,
            memberAssignment: m.assignment,
          })),
          authorizedOperations: withOps ? GROUP_OPERATIONS : OMITTED_OPERATIONS,
        };
      });
      return { throttleTimeMs: 0, groups };
    },
  };
}
