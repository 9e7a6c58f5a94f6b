import { ListGroupsApi, type ListGroupsRequest, type ListGroupsResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { coordinates } from './common.js';

export function listGroupsHandler(broker: BrokerContext): ApiHandler<ListGroupsRequest, ListGroupsResponse> {
  return {
    api: ListGroupsApi,
    minVersion: 0,
    maxVersion: 5,
    handle(req, ctx) {
      const v = ctx.apiVersion;
      const groups = broker.groups.coordinator
        .listGroups(v >= 4 ? req.statesFilter : [], v >= 5 ? req.typesFilter : [])
        // Only the groups this broker coordinates, as in Kafka (each broker lists its own).
        .filter((g) => coordinates(broker, g.groupId))
        .map((g) => ({
          groupId: g.groupId,
          protocolType: g.protocolType,
          groupState: g.state,
          groupType: g.groupType,
        }));
      return { throttleTimeMs: 0, errorCode: 0, groups };
    },
  };
}
