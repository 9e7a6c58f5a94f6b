import { DescribeConfigsApi, type DescribeConfigsRequest, type DescribeConfigsResponse } from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { topicNameError } from '../state/topic-manager.js';
import { GROUP_RESOURCE_TYPE } from './share/group-configs.js';

export function describeConfigsHandler(
  broker: BrokerContext,
): ApiHandler<DescribeConfigsRequest, DescribeConfigsResponse> {
  return {
    api: DescribeConfigsApi,
    // v0 was removed in Kafka 4 (KIP-896).
    minVersion: 1,
    maxVersion: 4,
    handle(req, ctx) {
      // GROUP resources (share-group configs) come from the share coordinator, the rest from the registry.
      const groupConfigs = broker.groups.shareGroups?.groupConfigs;
      const isGroup = (r: { resourceType: number }) =>
        groupConfigs !== undefined && r.resourceType === GROUP_RESOURCE_TYPE;
      const described = broker.configs.describeConfigs(
        req.resources.filter((r) => !isGroup(r)),
        {
          includeSynonyms: req.includeSynonyms,
          includeDocumentation: req.includeDocumentation,
          topicExists: (name) => broker.topics.get(name) !== undefined,
          topicNameError,
        },
      );
      let next = 0;
      const results = req.resources.map((r) =>
        isGroup(r) && groupConfigs
          ? {
              errorCode: 0,
              errorMessage: null,
              resourceType: r.resourceType,
              resourceName: r.resourceName,
              configs: groupConfigs.describe(r.resourceName, r.configurationKeys),
            }
          : (described[next++] as (typeof described)[number]),
      );
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
