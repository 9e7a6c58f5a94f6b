import {
  CreatePartitionsApi,
  type CreatePartitionsRequest,
  type CreatePartitionsResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { errorCodeOf, errorMessageOf } from './partition-errors.js';
import type { MutationQuotaContext } from './quota-enforcement.js';

export function createPartitionsHandler(
  broker: BrokerContext,
): ApiHandler<CreatePartitionsRequest, CreatePartitionsResponse> {
  return {
    api: CreatePartitionsApi,
    minVersion: 0,
    maxVersion: 3,
    async handle(req, ctx: MutationQuotaContext) {
      const counts = new Map<string, number>();
      for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
      const pending = req.topics.map(async (t) => {
        if ((counts.get(t.name) ?? 0) > 1) {
          return { name: t.name, errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: 'Duplicate topic in request.' };
        }
        try {
          // Explicit lists are checked against the topic's replication factor and the registered brokers.
          const assignments = broker.topics.assignmentsToGrow(
            t.name,
            t.count,
            t.assignments === null ? undefined : t.assignments.map((a) => a.brokerIds),
          );
          // KIP-599: the partitions added count against controller_mutation_rate.
          ctx.mutationQuota?.record(assignments.length);
          if (!req.validateOnly) await broker.topics.addPartitionsAsync(t.name, t.count, assignments);
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
