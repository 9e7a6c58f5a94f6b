import { ApiVersionsApi, type ApiVersionsRequest, type ApiVersionsResponse } from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';

export function apiVersionsHandler(broker: BrokerContext): ApiHandler<ApiVersionsRequest, ApiVersionsResponse> {
  return {
    api: ApiVersionsApi,
    minVersion: 0,
    maxVersion: 4,
    handle: () => ({
      ...ApiVersionsApi.response.defaults(),
      errorCode: 0,
      apiKeys: broker.supportedApis(),
      throttleTimeMs: 0,
    }),
  };
}
