import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';
import { shareAcknowledgeHandler, shareFetchHandler } from './share-fetch.js';
import { shareGroupDescribeHandler, shareGroupHeartbeatHandler } from './share-groups.js';
import {
  alterShareGroupOffsetsHandler,
  deleteShareGroupOffsetsHandler,
  describeShareGroupOffsetsHandler,
} from './share-offsets.js';
import type { ShareServices } from './share-services.js';

export { createShareServices, SHARE_VERSION_LATEST, type ShareServices } from './share-services.js';

/** The handlers of the share-group APIs (KIP-932). */
export function shareHandlers(broker: BrokerContext, shares: ShareServices): ApiHandler[] {
  return [
    shareGroupHeartbeatHandler(broker, shares),
    shareGroupDescribeHandler(broker, shares),
    shareFetchHandler(broker, shares),
    shareAcknowledgeHandler(broker, shares),
    describeShareGroupOffsetsHandler(broker, shares),
    alterShareGroupOffsetsHandler(broker, shares),
    deleteShareGroupOffsetsHandler(broker, shares),
  ];
}
