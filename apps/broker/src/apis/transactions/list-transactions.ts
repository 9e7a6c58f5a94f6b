import { TXN_STATE_NAMES } from '@sluice/coordinator';
import {
  ERROR_CODES,
  ListTransactionsApi,
  type ListTransactionsRequest,
  type ListTransactionsResponse,
} from '@sluice/protocol';
import type { BrokerContext } from '../../server/context.js';
import type { ApiHandler } from '../../server/dispatcher.js';

const KNOWN_STATES = new Set(Object.values(TXN_STATE_NAMES));
/** A bound on the length of a transactional id pattern (v2). */
const MAX_PATTERN_LENGTH = 1000;

/** ListTransactions: the coordinator's transactions, filtered by state, producer id, duration (v1) and id pattern (v2). */
export function listTransactionsHandler(
  broker: BrokerContext,
): ApiHandler<ListTransactionsRequest, ListTransactionsResponse> {
  return {
    api: ListTransactionsApi,
    minVersion: 0,
    maxVersion: 2,
    handle(req, ctx) {
      const unknownStateFilters = req.stateFilters.filter((s) => !KNOWN_STATES.has(s));
      const answer = { throttleTimeMs: 0, errorCode: 0, unknownStateFilters, transactionStates: [] };
      let pattern: RegExp | null = null;
      if (ctx.apiVersion >= 2 && req.transactionalIdPattern !== null && req.transactionalIdPattern !== '') {
        try {
          if (req.transactionalIdPattern.length > MAX_PATTERN_LENGTH) throw new Error('pattern too long');
          // Java's Matcher.matches: the whole id must match.
          pattern = new RegExp(`^(?:${req.transactionalIdPattern})$`);
        } catch {
          return { ...answer, errorCode: ERROR_CODES.INVALID_REGULAR_EXPRESSION };
        }
      }
      const states = req.stateFilters.filter((s) => KNOWN_STATES.has(s));
      // Only unknown states asked for: nothing can match.
      if (req.stateFilters.length > 0 && states.length === 0) return answer;
      const minDuration = ctx.apiVersion >= 1 ? Number(req.durationFilter) : -1;
      const listed = broker.transactions.coordinator
        .list(states, req.producerIdFilters, minDuration)
        .filter((t) => pattern === null || pattern.test(t.transactionalId));
      return {
        ...answer,
        transactionStates: listed.map((t) => ({
          transactionalId: t.transactionalId,
          producerId: t.producerId,
          transactionState: t.state,
        })),
      };
    },
  };
}
