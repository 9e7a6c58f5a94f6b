import { DescribeConfigsApi, type DescribeConfigsRequest, type DescribeConfigsResponse } from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { topicNameError } from '../state/topic-manager.js';

export function describeConfigsHandler(
  broker: BrokerContext,
): ApiHandler<DescribeConfigsRequest, DescribeConfigsResponse> {
  return {
    api: DescribeConfigsApi,
    // v0 was removed in Kafka 4 (KIP-896).
    minVersion: 1,
    maxVersion: 4,
    handle(req, ctx) {
      const results = broker.configs.describeConfigs(req.resources, {
        includeSynonyms: req.includeSynonyms,
        includeDocumentation: req.includeDocumentation,
        topicExists: (name) => broker.topics.get(name) !== undefined,
        topicNameError,
      });
      return {
        throttleTimeMs: 0,
        results: results.map((r) => ({
          ...r,
          // Kafka leaves a successful result's ErrorMessage at the schema default, "" (all versions).
          errorMessage: r.errorCode === 0 ? '' : r.errorMessage,
          configs: r.configs.map((c) => ({
            ...c,
            // v0 had no sources; v1+ ignore isDefault.
            isDefault: ctx.apiVersion === 0 ? c.isDefault : false,
            synonyms: req.includeSynonyms ? c.synonyms : [],
            documentation: req.includeDocumentation ? c.documentation : null,
          })),
        })),
      };
    },
  };
}
