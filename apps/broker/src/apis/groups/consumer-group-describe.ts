import {
  ConsumerGroupDescribeApi,
  type ConsumerGroupDescribeRequest,
  type ConsumerGroupDescribeResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

/** Without ACLs every group operation is allowed: READ (3), DELETE (6) and DESCRIBE (8), as a bit field. */
const GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8);
const OMITTED_OPERATIONS = -2147483648;
/** ConsumerGroupDescribe v1 MemberType of a member using the consumer protocol (KIP-1099). */
const MEMBER_TYPE_CONSUMER = 1;

export function consumerGroupDescribeHandler(
  broker: BrokerContext,
): ApiHandler<ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse> {
  return {
    api: ConsumerGroupDescribeApi,
    minVersion: 0,
    maxVersion: 1,
    handle(req, ctx) {
      const { consumerGroups, coordinator } = broker.groups;
      const ours = req.groupIds.filter((id) => coordinates(broker, id));
      const described = new Map(consumerGroups.describe(ours).map((g) => [g.groupId, g]));
      const groups = req.groupIds.map((groupId) => {
        const g = described.get(groupId);
        // Another broker coordinates it: Kafka's error entry, no members.
        if (g === undefined) {
          return {
            errorCode: ERROR_CODES.NOT_COORDINATOR,
            errorMessage: null,
            groupId,
            groupState: '',
            groupEpoch: -1,
            assignmentEpoch: -1,
            assignorName: '',
            members: [],
            authorizedOperations: OMITTED_OPERATIONS,
          };
        }
        // A classic group of that id exists: Kafka says so rather than "not found".
        const classic = coordinator.group(g.groupId);
        const isClassic =
          g.errorCode === ERROR_CODES.GROUP_ID_NOT_FOUND && classic !== undefined && classic.protocolType !== null;
        return {
          ...g,
          errorMessage: isClassic ? `Group ${g.groupId} is not a consumer group.` : g.errorMessage,
          members: g.members.map((m) => ({
            ...m,
            assignment: { topicPartitions: m.assignment },
            targetAssignment: { topicPartitions: m.targetAssignment },
            memberType: ctx.apiVersion >= 1 ? MEMBER_TYPE_CONSUMER : -1,
          })),
          authorizedOperations: req.includeAuthorizedOperations ? GROUP_OPERATIONS : OMITTED_OPERATIONS,
        };
      });
      return { throttleTimeMs: 0, groups };
    },
  };
}
