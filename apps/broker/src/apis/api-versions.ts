import {
  ApiVersionsApi,
  type ApiVersionsRequest,
  type ApiVersionsResponse,
  ERROR_CODES,
  ProduceApi,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';

/** What Kafka accepts as ClientSoftwareName and ClientSoftwareVersion (KIP-511). */
const SOFTWARE_NAME_VERSION = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$/;

type ApiRange = { apiKey: number; minVersion: number; maxVersion: number };

/**
 * The ranges ApiVersions lists. Produce is listed from v0 although v0-2 are refused (the dispatcher closes the
 * connection, as Kafka does since KIP-896), exactly as Kafka 4.x lists it (KAFKA-18659): librdkafka before the
 * fix of its issue 4956 (2.6 here) turns gzip, snappy and lz4 on only when the Produce range starts at v0, and
 * otherwise sends every batch uncompressed without a word. Clients pick the highest common version, so none
 * chooses v0-2 from this.
 */
function advertisedApis(served: readonly ApiRange[]): ApiRange[] {
  return served.map((a) => (a.apiKey === ProduceApi.apiKey ? { ...a, minVersion: 0 } : a));
}

/**
 * share.version as Kafka 4.4 reports it to clients: finalized at the broker's level (2 on a new cluster; share
 * groups are on from 1), and, as the differential case shows, not among the supported features it lists.
 */
function shareFeatures(broker: BrokerContext) {
  const level = broker.groups.shareGroups?.shareVersion ?? 0;
  return level > 0 ? [{ name: 'share.version', minVersionLevel: level, maxVersionLevel: level }] : [];
}

/**
 * The feature Sluice implements of the ones Kafka 4.x lists (KIP-584): transaction.version 2 is
 * transactions V2 (KIP-890 part 2), finalized as Kafka 4.x finalizes it on a new cluster, so
 * clients that know it (the Java client from 4.0) bump the epoch per transaction and let the
 * partition leaders add partitions to their transactions.
 */
const TRANSACTION_VERSION = { name: 'transaction.version', minVersion: 0, maxVersion: 2 };

export function apiVersionsHandler(broker: BrokerContext): ApiHandler<ApiVersionsRequest, ApiVersionsResponse> {
  return {
    api: ApiVersionsApi,
    minVersion: 0,
    maxVersion: 5,
    handle: (req, ctx) => {
      // v3+: Kafka answers a malformed client name or version with INVALID_REQUEST and no ApiKeys.
      const valid =
        ctx.apiVersion < 3 ||
        (SOFTWARE_NAME_VERSION.test(req.clientSoftwareName) && SOFTWARE_NAME_VERSION.test(req.clientSoftwareVersion));
      // v5 (KIP-1242): a client names both the cluster and the node it means to reach, or neither (one
      // alone is an INVALID_REQUEST, as in Kafka); finding another one here (an address reused by another
      // cluster) tells it to bootstrap again.
      const v5 = ctx.apiVersion >= 5;
      const halfNamed = v5 && (req.clusterId !== null) !== (req.nodeId !== -1);
      const elsewhere =
        v5 && req.clusterId !== null && (req.clusterId !== broker.clusterId || req.nodeId !== broker.nodeId);
      const errorCode =
        !valid || halfNamed ? ERROR_CODES.INVALID_REQUEST : elsewhere ? ERROR_CODES.REBOOTSTRAP_REQUIRED : 0;
      return {
        ...ApiVersionsApi.response.defaults(),
        errorCode,
        apiKeys: errorCode === 0 ? advertisedApis(broker.supportedApis()) : [],
        throttleTimeMs: 0,
        ...(errorCode === 0
          ? {
              // Before v4 a range starting at 0 is left out, as Kafka does (KAFKA-17011: older clients refuse it).
              supportedFeatures: [TRANSACTION_VERSION].filter((f) => ctx.apiVersion >= 4 || f.minVersion > 0),
              // The metadata's revision, as Kafka gives its metadata offset: it only grows.
              finalizedFeaturesEpoch: BigInt(Math.max(0, broker.store.image.revision)),
              finalizedFeatures: [
                {
                  name: TRANSACTION_VERSION.name,
                  minVersionLevel: TRANSACTION_VERSION.maxVersion,
                  maxVersionLevel: TRANSACTION_VERSION.maxVersion,
                },
                ...shareFeatures(broker),
              ],
            }
          : {}),
      };
    },
  };
}
