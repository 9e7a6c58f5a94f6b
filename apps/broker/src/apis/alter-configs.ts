import {
  AlterConfigsApi,
  type AlterConfigsRequest,
  type AlterConfigsResponse,
  IncrementalAlterConfigsApi,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { topicNameError } from '../state/topic-manager.js';

export function alterConfigsHandler(broker: BrokerContext): ApiHandler<AlterConfigsRequest, AlterConfigsResponse> {
  return {
    api: AlterConfigsApi,
    minVersion: 0,
    maxVersion: 2,
    handle(req) {
      const responses = broker.configs.alterConfigs(req.resources, {
        validateOnly: req.validateOnly,
        topicExists: (name) => broker.topics.get(name) !== undefined,
        // Kafka's controller validates the name before looking the topic up.
        topicNameError,
      });
      return { throttleTimeMs: 0, responses };
    },
  };
}

export function incrementalAlterConfigsHandler(
  broker: BrokerContext,
): ApiHandler<IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse> {
  return {
    api: IncrementalAlterConfigsApi,
    minVersion: 0,
    maxVersion: 1,
    handle(req) {
      const responses = broker.configs.incrementalAlterConfigs(req.resources, {
        validateOnly: req.validateOnly,
        topicExists: (name) => broker.topics.get(name) !== undefined,
        // Kafka's controller validates the name before looking the topic up.
        topicNameError,
      });
      return { throttleTimeMs: 0, responses };
    },
  };
}
