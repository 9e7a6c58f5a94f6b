import { ApiVersionsApi, type ApiVersionsRequest, type ApiVersionsResponse, ERROR_CODES } from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';

/** What Kafka accepts as ClientSoftwareName and ClientSoftwareVersion (KIP-511). */
const SOFTWARE_NAME_VERSION = /^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$/;

export function apiVersionsHandler(broker: BrokerContext): ApiHandler<ApiVersionsRequest, ApiVersionsResponse> {
  return {
    api: ApiVersionsApi,
    minVersion: 0,
    maxVersion: 4,
    handle: (req, ctx) => {
      // v3+: Kafka answers a malformed client name or version with INVALID_REQUEST and no ApiKeys.
      const valid =
        ctx.apiVersion < 3 ||
        (SOFTWARE_NAME_VERSION.test(req.clientSoftwareName) && SOFTWARE_NAME_VERSION.test(req.clientSoftwareVersion));
      return {
        ...ApiVersionsApi.response.defaults(),
        errorCode: valid ? 0 : ERROR_CODES.INVALID_REQUEST,
        apiKeys: valid ? broker.supportedApis() : [],
        throttleTimeMs: 0,
      };
    },
  };
}
