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

/** A bound on groups deleted by one request. */
const MAX_GROUPS = 10_000;

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
      const { consumerGroups, coordinator } = broker.groups;
      const results: { groupId: string; errorCode: number }[] = [];
      for (const groupId of req.groupsNames.slice(0, MAX_GROUPS)) {
        if (!coordinates(broker, groupId)) {
          results.push({ groupId, errorCode: ERROR_CODES.NOT_COORDINATOR });
          continue;
        }
        // A share group must be empty; its share-partition state goes with it.
        const shares = broker.groups.shareGroups?.coordinator;
        if (shares !== undefined && (shares.has(groupId) || shares.sharePartitionsOf(groupId).length > 0)) {
          shares.ensureGroup(groupId);
          // Initialized share-partitions may be led by other brokers: their state is deleted at its share coordinator.
          const initialized = shares.initializedPartitions(groupId);
          const deleted = shares.deleteGroup(groupId);
          broker.groups.shareGroups?.flush();
          const persister = broker.groups.shareGroups?.state.persister;
          if (deleted && persister !== undefined) {
            const keys = [...initialized].flatMap(([topicId, ps]) =>
              ps.map((partition) => ({ groupId, topicId, partition })),
            );
            await Promise.all(keys.map((k) => persister.delete(k)));
          }
          results.push({ groupId, errorCode: deleted ? ERROR_CODES.NONE : ERROR_CODES.NON_EMPTY_GROUP });
          continue;
        }
        if (!consumerGroups.has(groupId)) {
          results.push(...(await coordinator.deleteGroups([groupId])));
          continue;
        }
        // A KIP-848 consumer group must be empty; its offsets go with the classic side of the id.
        const errorCode = await consumerGroups.deleteGroup(groupId);
        if (errorCode !== ERROR_CODES.NONE) {
          results.push({ groupId, errorCode });
          continue;
        }
        const [offsets] = await coordinator.deleteGroups([groupId]);
        const noOffsets = offsets.errorCode === ERROR_CODES.GROUP_ID_NOT_FOUND;
        results.push({ groupId, errorCode: noOffsets ? ERROR_CODES.NONE : offsets.errorCode });
      }
      return {
        throttleTimeMs: 0,
        results: results.map((r) => ({ ...r, errorMessage: r.errorCode === 0 ? null : deleteErrorMessage(r) })),
      };
    },
  };
}
