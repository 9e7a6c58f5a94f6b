import { DeleteGroupsApi, type DeleteGroupsRequest, type DeleteGroupsResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';

export function deleteGroupsHandler(broker: BrokerContext): ApiHandler<DeleteGroupsRequest, DeleteGroupsResponse> {
  return {
    api: DeleteGroupsApi,
    minVersion: 0,
    maxVersion: 2,
    async handle(req) {
      const results = await broker.groups.coordinator.deleteGroups(req.groupsNames);
      return { throttleTimeMs: 0, results };
    },
  };
}
