import { DEFAULT_BROKER_CONFIG_KEY } from '@sluice/cluster/core';
import {
  AlterConfigsApi,
  type AlterConfigsRequest,
  type AlterConfigsResponse,
  IncrementalAlterConfigsApi,
  type IncrementalAlterConfigsRequest,
  type IncrementalAlterConfigsResponse,
} from '@sluice/protocol';
import { ConfigResourceType } from '../config/index.js';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { logConfigFor, topicNameError } from '../state/topic-manager.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';
import { GROUP_RESOURCE_TYPE } from './share/group-configs.js';

interface AlterResult {
  resourceType: number;
  resourceName: string;
  errorCode: number;
  errorMessage: string | null;
}

/**
 * Applies an alter to the config registry, then stores every altered resource in the metadata
 * store before answering. A resource the store refuses or cannot take (etcd unreachable: Kafka's
 * REQUEST_TIMED_OUT, as when its controller does not answer a forwarded request) is put back as it
 * was and answered with that error, so that no broker acts on a config the cluster does not hold.
 */
async function alterAndStore<R extends AlterResult>(
  broker: BrokerContext,
  validateOnly: boolean,
  alter: () => R[],
): Promise<R[]> {
  const before = broker.configs.snapshot();
  const results = alter();
  if (validateOnly) return results;
  await Promise.all(
    results.map(async (r) => {
      if (r.errorCode !== 0) return;
      try {
        await storeResource(broker, r);
      } catch (err) {
        restoreResource(broker, r, before);
        if (!broker.logDir.noteError(err, `storing configs of ${r.resourceName || 'the cluster default'}`)) {
          broker.logger.warn({ err, resource: r.resourceName }, 'config change not stored: undone');
        }
        r.errorCode = errorCodeOf(err);
        r.errorMessage = errorMessageOf(err);
      }
    }),
  );
  return results;
}

async function storeResource(broker: BrokerContext, r: AlterResult): Promise<void> {
  if (r.resourceType === ConfigResourceType.TOPIC) {
    await broker.topics.storeConfigs(r.resourceName, broker.configs.topicOverrides(r.resourceName));
    return;
  }
  const state = broker.configs.snapshot();
  if (r.resourceName === '') await broker.store.setBrokerConfigs(DEFAULT_BROKER_CONFIG_KEY, state.dynamicDefault);
  else await broker.store.setBrokerConfigs(broker.nodeId, state.dynamicBroker);
}

function restoreResource(
  broker: BrokerContext,
  r: AlterResult,
  before: ReturnType<BrokerContext['configs']['snapshot']>,
): void {
  if (r.resourceType === ConfigResourceType.TOPIC) {
    broker.configs.setTopicOverrides(r.resourceName, before.topics[r.resourceName] ?? {});
    const values = logConfigFor(broker.configs.topicConfig(r.resourceName));
    for (const p of broker.topics.get(r.resourceName)?.partitions ?? []) if (p) Object.assign(p.log.config, values);
  } else if (r.resourceName === '') {
    broker.configs.setStoredBrokerConfigs('default', before.dynamicDefault);
  } else {
    broker.configs.setStoredBrokerConfigs('broker', before.dynamicBroker);
  }
}

export function alterConfigsHandler(broker: BrokerContext): ApiHandler<AlterConfigsRequest, AlterConfigsResponse> {
  return {
    api: AlterConfigsApi,
    minVersion: 0,
    maxVersion: 2,
    async handle(req) {
      const responses = await alterAndStore(broker, req.validateOnly, () =>
        broker.configs.alterConfigs(req.resources, {
          validateOnly: req.validateOnly,
          topicExists: (name) => broker.topics.get(name) !== undefined,
          // Kafka's controller validates the name before looking the topic up.
          topicNameError,
        }),
      );
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
    async handle(req) {
      // GROUP resources (share-group configs) are kept by the share coordinator, the rest by the registry.
      const groupConfigs = broker.groups.shareGroups?.groupConfigs;
      const isGroup = (r: { resourceType: number }) =>
        groupConfigs !== undefined && r.resourceType === GROUP_RESOURCE_TYPE;
      const others = req.resources.filter((r) => !isGroup(r));
      const altered = await alterAndStore(broker, req.validateOnly, () =>
        others.length === 0
          ? []
          : broker.configs.incrementalAlterConfigs(others, {
              validateOnly: req.validateOnly,
              topicExists: (name) => broker.topics.get(name) !== undefined,
              // Kafka's controller validates the name before looking the topic up.
              topicNameError,
            }),
      );
      let next = 0;
      const responses = [];
      for (const r of req.resources) {
        responses.push(
          isGroup(r) && groupConfigs
            ? {
                resourceType: r.resourceType,
                resourceName: r.resourceName,
                ...(await groupConfigs.alter(r.resourceName, r.configs, req.validateOnly)),
              }
            : (altered[next++] as (typeof altered)[number]),
        );
      }
      return { throttleTimeMs: 0, responses };
    },
  };
}
