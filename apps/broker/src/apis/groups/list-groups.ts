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
      const states = v >= 4 ? req.statesFilter : [];
      const types = v >= 5 ? req.typesFilter : [];
      const consumerGroups = broker.groups.consumerGroups;
      const groups = broker.groups.coordinator
        .listGroups(states, types)
        // Only the groups this broker coordinates, as in Kafka (each broker lists its own).
        .filter((g) => coordinates(broker, g.groupId))
        // An id taken by a KIP-848 consumer group is listed as that group, not as the offsets it keeps.
        .filter((g) => !consumerGroups.has(g.groupId))
        .map((g) => ({
          groupId: g.groupId,
          protocolType: g.protocolType,
          groupState: g.state as string,
          groupType: g.groupType as string,
        }));
      if (types.length === 0 || types.some((t) => t.toLowerCase() === 'consumer')) {
        for (const g of consumerGroups.list(states)) {
          groups.push({ groupId: g.groupId, protocolType: 'consumer', groupState: g.state, groupType: 'consumer' });
        }
      }
      const shares = broker.groups.shareGroups;
      if (shares && shares.shareVersion > 0 && (types.length === 0 || types.some((t) => t.toLowerCase() === 'share'))) {
        for (const g of shares.coordinator.list(states)) {
          if (coordinates(broker, g.groupId)) {
            groups.push({ groupId: g.groupId, protocolType: 'share', groupState: g.state, groupType: 'share' });
          }
        }
      }
      return { throttleTimeMs: 0, errorCode: 0, groups };
    },
  };
}
