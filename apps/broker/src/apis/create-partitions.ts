import {
  CreatePartitionsApi,
  type CreatePartitionsRequest,
  type CreatePartitionsResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';

export function createPartitionsHandler(
  broker: BrokerContext,
): ApiHandler<CreatePartitionsRequest, CreatePartitionsResponse> {
  return {
    api: CreatePartitionsApi,
    minVersion: 0,
    maxVersion: 3,
    async handle(req) {
      const counts = new Map<string, number>();
      for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
      const pending = req.topics.map(async (t) => {
        if ((counts.get(t.name) ?? 0) > 1) {
          return { name: t.name, errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: 'Duplicate topic in request.' };
        }
        try {
          const state = broker.topics.validateAddPartitions(t.name, t.count);
          if (t.assignments !== null) {
            const added = t.count - state.partitions.length;
            if (t.assignments.length !== added) {
              return {
                name: t.name,
                errorCode: ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
                errorMessage: `Increasing the number of partitions by ${added} but ${t.assignments.length} assignments provided.`,
              };
            }
            if (t.assignments.some((a) => a.brokerIds.length !== 1 || a.brokerIds[0] !== broker.nodeId)) {
              return {
                name: t.name,
                errorCode: ERROR_CODES.INVALID_REPLICA_ASSIGNMENT,
                errorMessage: `Only broker ${broker.nodeId} exists to hold the new partitions.`,
              };
            }
          }
          if (!req.validateOnly) await broker.topics.addPartitionsAsync(t.name, t.count);
          return { name: t.name, errorCode: 0, errorMessage: null };
        } catch (err) {
          broker.logDir.noteError(err, `adding partitions to ${t.name}`);
          return { name: t.name, errorCode: errorCodeOf(err), errorMessage: errorMessageOf(err) };
        }
      });
      const results = await Promise.all(pending);
      return { throttleTimeMs: 0, results };
    },
  };
}
