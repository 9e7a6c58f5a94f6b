import type { ConsumerGroupCoordinator, GroupCoordinator } from '@sluice/coordinator';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import type { TopicState } from '../../state/topic-manager.js';
import type { ShareServices } from '../share/share-services.js';
import { consumerGroupDescribeHandler } from './consumer-group-describe.js';
import { consumerGroupHeartbeatHandler } from './consumer-group-heartbeat.js';
import { deleteGroupsHandler } from './delete-groups.js';
import { describeGroupsHandler } from './describe-groups.js';
import { findCoordinatorHandler } from './find-coordinator.js';
import { heartbeatHandler } from './heartbeat.js';
import { joinGroupHandler } from './join-group.js';
import { leaveGroupHandler } from './leave-group.js';
import { listGroupsHandler } from './list-groups.js';
import { offsetCommitHandler } from './offset-commit.js';
import { offsetDeleteHandler } from './offset-delete.js';
import { offsetFetchHandler } from './offset-fetch.js';
import { syncGroupHandler } from './sync-group.js';

export { createGroupCoordinator, OFFSETS_TOPIC, type ReplicatedAppend } from './offsets-topic.js';

/** What the broker holds for consumer groups (BrokerContext.groups). */
export interface GroupServices {
  readonly coordinator: GroupCoordinator;
  /** KIP-848 consumer groups; their offsets live in `coordinator`'s offset store. */
  readonly consumerGroups: ConsumerGroupCoordinator;
  /** KIP-932 share groups and their share-partitions (apis/share). */
  readonly shareGroups?: ShareServices;
  /** Creates `__consumer_offsets` if it does not exist yet. */
  ensureOffsetsTopic(): TopicState;
}

/** The handlers of every group and offset API. */
export function groupHandlers(broker: BrokerContext): ApiHandler[] {
  return [
    findCoordinatorHandler(broker),
    joinGroupHandler(broker),
    syncGroupHandler(broker),
    heartbeatHandler(broker),
    leaveGroupHandler(broker),
    describeGroupsHandler(broker),
    listGroupsHandler(broker),
    deleteGroupsHandler(broker),
    offsetCommitHandler(broker),
    offsetFetchHandler(broker),
    offsetDeleteHandler(broker),
    consumerGroupHeartbeatHandler(broker),
    consumerGroupDescribeHandler(broker),
  ];
}
