import {
  DeleteGroupsApi,
  type DeleteGroupsRequest,
  type DeleteGroupsResponse,
  ERROR_CODES,
  errorByCode,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

/** What Kafka says beside a group it did not delete (v3+). */
function deleteErrorMessage(r: { groupId: string; errorCode: number }): string {
  if (r.errorCode === ERROR_CODES.GROUP_ID_NOT_FOUND) return `Group ${r.groupId} not found.`;
  return errorByCode(r.errorCode)?.message ?? `Error ${r.errorCode}`;
}

export function deleteGroupsHandler(broker: BrokerContext): ApiHandler<DeleteGroupsRequest, DeleteGroupsResponse> {
  return {
    api: DeleteGroupsApi,
    minVersion: 0,
    // v3 adds a message per failed group.
    maxVersion: 3,
    async handle(req) {
      const ours = req.groupsNames.filter((g) => coordinates(broker, g));
      const deleted = new Map((await broker.groups.coordinator.deleteGroups(ours)).map((r) => [r.groupId, r]));
      const results = req.groupsNames.map(
        (groupId) => deleted.get(groupId) ?? { groupId, errorCode: ERROR_CODES.NOT_COORDINATOR },
      );
      return {
        throttleTimeMs: 0,
        results: results.map((r) => ({ ...r, errorMessage: r.errorCode === 0 ? null : deleteErrorMessage(r) })),
      };
    },
  };
}
