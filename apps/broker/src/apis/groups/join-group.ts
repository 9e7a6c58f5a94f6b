import { ERROR_CODES, JoinGroupApi, type JoinGroupRequest, type JoinGroupResponse } from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { clientHostOf, clientIdOf, coordinates } from './common.js';

/** Kafka's answer from a broker that does not coordinate the group: the member id as sent, no generation. */
function notCoordinator(memberId: string) {
  return {
    errorCode: ERROR_CODES.NOT_COORDINATOR,
    generationId: -1,
    protocolType: null,
    protocolName: null,
    leader: '',
    memberId,
    skipAssignment: false,
    members: [],
  };
}

export function joinGroupHandler(broker: BrokerContext): ApiHandler<JoinGroupRequest, JoinGroupResponse> {
  return {
    api: JoinGroupApi,
    minVersion: 0,
    maxVersion: 9,
    async handle(req, ctx) {
      const v = ctx.apiVersion;
      const consumerGroups = broker.groups.consumerGroups;
      const ours = coordinates(broker, req.groupId);
      // An empty KIP-848 consumer group gives way to a classic one (Kafka's maybeDeleteEmptyConsumerGroup).
      if (ours && consumerGroups.has(req.groupId) && !consumerGroups.hasMembers(req.groupId)) {
        await consumerGroups.deleteGroup(req.groupId);
      }
      // A non-empty one takes classic members (mixed mode, group.consumer.migration.policy).
      const mixed = ours && consumerGroups.has(req.groupId);
      const params = {
        groupId: req.groupId,
        memberId: req.memberId,
        groupInstanceId: req.groupInstanceId,
        clientId: clientIdOf(ctx),
        clientHost: clientHostOf(ctx),
        sessionTimeoutMs: req.sessionTimeoutMs,
        rebalanceTimeoutMs: v >= 1 ? req.rebalanceTimeoutMs : -1,
        protocolType: req.protocolType,
        protocols: req.protocols.map((p) => ({ name: p.name, metadata: Buffer.from(p.metadata) })),
        requireKnownMemberId: v >= 4,
        supportSkippingAssignment: v >= 9,
        reason: req.reason,
      };
      const r = !ours
        ? notCoordinator(req.memberId)
        : mixed
          ? await consumerGroups.classicJoin(params)
          : await broker.groups.coordinator.joinGroup(params);
      return {
        throttleTimeMs: 0,
        errorCode: r.errorCode,
        generationId: r.generationId,
        protocolType: r.protocolType,
        // Before v7 the protocol name is not nullable: Kafka sends an empty string.
        protocolName: r.protocolName ?? (v >= 7 ? null : ''),
        leader: r.leader,
        skipAssignment: v >= 9 ? r.skipAssignment : false,
        memberId: r.memberId,
        members: r.members.map((m) => ({
          memberId: m.memberId,
          groupInstanceId: m.groupInstanceId,
          metadata: m.metadata,
        })),
      };
    },
  };
}
