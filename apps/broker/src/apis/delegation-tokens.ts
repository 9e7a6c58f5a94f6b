// CreateDelegationToken, RenewDelegationToken, ExpireDelegationToken and DescribeDelegationToken
// (KIP-48, KIP-373), with the checks and answers of Kafka's KafkaApis/ControllerApis and the
// controller's DelegationTokenControlManager, in their order. Any broker serves them: each write
// is a compare-and-swap on the token's record, so concurrent renewals and expiries cannot undo
// each other.

import { randomBytes } from 'node:crypto';
import { MetadataConflictError } from '@sluice/cluster/core';
import {
  CreateDelegationTokenApi,
  type CreateDelegationTokenRequest,
  type CreateDelegationTokenResponse,
  DescribeDelegationTokenApi,
  type DescribeDelegationTokenRequest,
  type DescribeDelegationTokenResponse,
  ERROR_CODES,
  ExpireDelegationTokenApi,
  type ExpireDelegationTokenRequest,
  type ExpireDelegationTokenResponse,
  KafkaError,
  RenewDelegationTokenApi,
  type RenewDelegationTokenRequest,
  type RenewDelegationTokenResponse,
} from '@sluice/protocol';
import {
  AclOperation,
  allowedToRenew,
  ownerOrRenewer,
  ResourceType,
  splitPrincipal,
  type TokenInformation,
  tokenExpired,
  tokenRecord,
} from '@sluice/security';
import type { BrokerContext } from '../server/context.js';
import type { DelegationTokens } from '../server/delegation-tokens.js';
import type { ApiHandler, RequestContext } from '../server/dispatcher.js';
import { ANONYMOUS } from '../server/listener-security.js';
import { authorize } from './authorize.js';

/** Compare-and-swap attempts before a token write gives up (another broker keeps changing the token). */
const MAX_WRITE_ATTEMPTS = 5;

function principalOf(ctx: RequestContext): string {
  return ctx.connection.principal ?? ANONYMOUS;
}

/**
 * Kafka's allowTokenRequests: not on a connection that authenticated with a token, nor on
 * PLAINTEXT, nor on SSL without a client certificate (one-way TLS).
 */
function tokenRequestsAllowed(broker: BrokerContext, ctx: RequestContext): boolean {
  const c = ctx.connection;
  if (c.sasl?.tokenAuthenticated) return false;
  const listeners = broker.config.listeners;
  const protocol = (listeners.find((l) => l.name === c.listener) ?? listeners[0])?.securityProtocol ?? 'PLAINTEXT';
  if (protocol === 'PLAINTEXT') return false;
  if (protocol === 'SSL' && principalOf(ctx) === ANONYMOUS) return false;
  return true;
}

function tokensOf(broker: BrokerContext): DelegationTokens | undefined {
  const t = broker.security?.tokens;
  return t?.enabled ? t : undefined;
}

function errorCodeOf(err: unknown): number {
  return err instanceof KafkaError ? err.code : ERROR_CODES.UNKNOWN_SERVER_ERROR;
}

/** Writes a token record compared on what `decide` read; decides again on a conflict. */
async function writeToken<T>(
  decide: () => { result: T; key?: string; value?: string | null; expected?: string | null },
  store: BrokerContext['store'],
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const d = decide();
    if (d.key === undefined || d.value === undefined) return d.result;
    try {
      await store.setSecurityRecords([{ kind: 'tokens', key: d.key, value: d.value, expected: d.expected }]);
      return d.result;
    } catch (err) {
      if (!(err instanceof MetadataConflictError) || attempt >= MAX_WRITE_ATTEMPTS) throw err;
    }
  }
}

/** Kafka's Uuid.randomUuid().toString(): 16 random bytes in URL-safe base64 without padding. */
function newTokenId(): string {
  return randomBytes(16).toString('base64url');
}

export function createDelegationTokenHandler(
  broker: BrokerContext,
): ApiHandler<CreateDelegationTokenRequest, CreateDelegationTokenResponse> {
  return {
    api: CreateDelegationTokenApi,
    minVersion: 1,
    maxVersion: 3,
    async handle(req, ctx) {
      const requester = principalOf(ctx);
      const owner =
        req.ownerPrincipalName === null || req.ownerPrincipalName === ''
          ? requester
          : `${req.ownerPrincipalType ?? 'User'}:${req.ownerPrincipalName}`;
      const o = splitPrincipal(owner);
      const r = splitPrincipal(requester);
      const answer = (errorCode: number, fields: Partial<CreateDelegationTokenResponse> = {}) => ({
        errorCode,
        principalType: o.type,
        principalName: o.name,
        tokenRequesterPrincipalType: r.type,
        tokenRequesterPrincipalName: r.name,
        // Kafka's broker answers its own refusals with -1; the controller's leave them 0.
        issueTimestampMs: -1n,
        expiryTimestampMs: -1n,
        maxTimestampMs: -1n,
        tokenId: '',
        hmac: Buffer.alloc(0),
        throttleTimeMs: 0,
        ...fields,
      });
      const controllerRefusal = (errorCode: number) =>
        answer(errorCode, { issueTimestampMs: 0n, expiryTimestampMs: 0n, maxTimestampMs: 0n });
      if (!tokenRequestsAllowed(broker, ctx)) return answer(ERROR_CODES.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED);
      // Anyone may ask for a token for themselves; for another owner CREATE_TOKENS on that User (KIP-373).
      if (owner !== requester && !authorize(broker, ctx, AclOperation.CREATE_TOKENS, ResourceType.USER, owner)) {
        return answer(ERROR_CODES.DELEGATION_TOKEN_AUTHORIZATION_FAILED);
      }
      if (req.renewers.some((x) => x.principalType !== 'User')) return answer(ERROR_CODES.INVALID_PRINCIPAL_TYPE);
      const tokens = tokensOf(broker);
      if (!tokens) return controllerRefusal(ERROR_CODES.DELEGATION_TOKEN_AUTH_DISABLED);
      const { maxLifetimeMs, expiryTimeMs } = tokens.settings;
      const now = tokens.now();
      const requested = req.maxLifetimeMs;
      const lifetime = requested > 0n && requested < BigInt(maxLifetimeMs) ? Number(requested) : maxLifetimeMs;
      const token: TokenInformation = {
        tokenId: newTokenId(),
        owner,
        requester,
        renewers: req.renewers.map((x) => `${x.principalType}:${x.principalName}`),
        issueTimestampMs: now,
        maxTimestampMs: now + lifetime,
        expiryTimestampMs: Math.min(now + lifetime, now + expiryTimeMs),
      };
      try {
        await broker.store.setSecurityRecords([
          { kind: 'tokens', key: token.tokenId, value: tokenRecord(token), expected: null },
        ]);
      } catch (err) {
        return controllerRefusal(errorCodeOf(err));
      }
      return answer(0, {
        issueTimestampMs: BigInt(token.issueTimestampMs),
        expiryTimestampMs: BigInt(token.expiryTimestampMs),
        maxTimestampMs: BigInt(token.maxTimestampMs),
        tokenId: token.tokenId,
        hmac: tokens.hmac(token.tokenId),
      });
    },
  };
}

export function renewDelegationTokenHandler(
  broker: BrokerContext,
): ApiHandler<RenewDelegationTokenRequest, RenewDelegationTokenResponse> {
  return {
    api: RenewDelegationTokenApi,
    minVersion: 1,
    maxVersion: 2,
    async handle(req, ctx) {
      const answer = (errorCode: number, expiry = 0n) => ({ errorCode, expiryTimestampMs: expiry, throttleTimeMs: 0 });
      if (!tokenRequestsAllowed(broker, ctx)) return answer(ERROR_CODES.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, -1n);
      const tokens = tokensOf(broker);
      if (!tokens) return answer(ERROR_CODES.DELEGATION_TOKEN_AUTH_DISABLED);
      const principal = principalOf(ctx);
      try {
        return await writeToken(() => {
          const found = tokens.byHmacOf(req.hmac);
          if (!found) return { result: answer(ERROR_CODES.DELEGATION_TOKEN_NOT_FOUND) };
          const now = tokens.now();
          if (tokenExpired(found.token, now)) return { result: answer(ERROR_CODES.DELEGATION_TOKEN_EXPIRED) };
          if (!allowedToRenew(found.token, principal)) {
            return { result: answer(ERROR_CODES.DELEGATION_TOKEN_OWNER_MISMATCH) };
          }
          const period = tokens.settings.expiryTimeMs;
          const renew =
            req.renewPeriodMs > 0n && req.renewPeriodMs < BigInt(period) ? Number(req.renewPeriodMs) : period;
          const expiry = Math.min(found.token.maxTimestampMs, now + renew);
          return {
            result: answer(0, BigInt(expiry)),
            key: found.token.tokenId,
            value: tokenRecord({ ...found.token, expiryTimestampMs: expiry }),
            expected: found.text,
          };
        }, broker.store);
      } catch (err) {
        return answer(errorCodeOf(err));
      }
    },
  };
}

export function expireDelegationTokenHandler(
  broker: BrokerContext,
): ApiHandler<ExpireDelegationTokenRequest, ExpireDelegationTokenResponse> {
  return {
    api: ExpireDelegationTokenApi,
    minVersion: 1,
    maxVersion: 2,
    async handle(req, ctx) {
      const answer = (errorCode: number, expiry = 0n) => ({ errorCode, expiryTimestampMs: expiry, throttleTimeMs: 0 });
      if (!tokenRequestsAllowed(broker, ctx)) return answer(ERROR_CODES.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, -1n);
      const tokens = tokensOf(broker);
      if (!tokens) return answer(ERROR_CODES.DELEGATION_TOKEN_AUTH_DISABLED);
      const principal = principalOf(ctx);
      try {
        return await writeToken(() => {
          const found = tokens.byHmacOf(req.hmac);
          if (!found) return { result: answer(ERROR_CODES.DELEGATION_TOKEN_NOT_FOUND) };
          if (!allowedToRenew(found.token, principal)) {
            return { result: answer(ERROR_CODES.DELEGATION_TOKEN_OWNER_MISMATCH) };
          }
          const now = tokens.now();
          const key = found.token.tokenId;
          // A negative period expires the token now: its record is removed (even when already expired).
          if (req.expiryTimePeriodMs < 0n) {
            return { result: answer(0, BigInt(now)), key, value: null, expected: found.text };
          }
          if (tokenExpired(found.token, now)) return { result: answer(ERROR_CODES.DELEGATION_TOKEN_EXPIRED) };
          const max = found.token.maxTimestampMs;
          const expiry = req.expiryTimePeriodMs >= BigInt(max - now) ? max : now + Number(req.expiryTimePeriodMs);
          return {
            result: answer(0, BigInt(expiry)),
            key,
            value: tokenRecord({ ...found.token, expiryTimestampMs: expiry }),
            expected: found.text,
          };
        }, broker.store);
      } catch (err) {
        return answer(errorCodeOf(err));
      }
    },
  };
}

export function describeDelegationTokenHandler(
  broker: BrokerContext,
): ApiHandler<DescribeDelegationTokenRequest, DescribeDelegationTokenResponse> {
  return {
    api: DescribeDelegationTokenApi,
    minVersion: 1,
    maxVersion: 3,
    handle(req, ctx) {
      const answer = (errorCode: number, tokens: DescribeDelegationTokenResponse['tokens'] = []) => ({
        errorCode,
        tokens,
        throttleTimeMs: 0,
      });
      if (!tokenRequestsAllowed(broker, ctx)) return answer(ERROR_CODES.DELEGATION_TOKEN_REQUEST_NOT_ALLOWED);
      const tokens = tokensOf(broker);
      if (!tokens) return answer(ERROR_CODES.DELEGATION_TOKEN_AUTH_DISABLED);
      if (req.owners !== null && req.owners.length === 0) return answer(0);
      const owners = req.owners?.map((o) => `${o.principalType}:${o.principalName}`) ?? null;
      const principal = principalOf(ctx);
      // Kafka's DelegationTokenManager.filterToken.
      const eligible = (t: TokenInformation) => {
        if (owners !== null && !owners.some((o) => ownerOrRenewer(t, o))) return false;
        if (ownerOrRenewer(t, principal)) return true;
        return (
          authorize(broker, ctx, AclOperation.DESCRIBE, ResourceType.DELEGATION_TOKEN, t.tokenId) ||
          authorize(broker, ctx, AclOperation.DESCRIBE_TOKENS, ResourceType.USER, t.owner)
        );
      };
      const described = tokens
        .all()
        .filter(eligible)
        .map((t) => {
          const o = splitPrincipal(t.owner);
          const r = splitPrincipal(t.requester);
          return {
            principalType: o.type,
            principalName: o.name,
            tokenRequesterPrincipalType: r.type,
            tokenRequesterPrincipalName: r.name,
            issueTimestamp: BigInt(t.issueTimestampMs),
            expiryTimestamp: BigInt(t.expiryTimestampMs),
            maxTimestamp: BigInt(t.maxTimestampMs),
            tokenId: t.tokenId,
            hmac: tokens.hmac(t.tokenId),
            renewers: t.renewers.map((x) => {
              const p = splitPrincipal(x);
              return { principalType: p.type, principalName: p.name };
            }),
          };
        });
      return answer(0, described);
    },
  };
}

export function delegationTokenHandlers(broker: BrokerContext): ApiHandler[] {
  return [
    createDelegationTokenHandler(broker),
    renewDelegationTokenHandler(broker),
    expireDelegationTokenHandler(broker),
    describeDelegationTokenHandler(broker),
  ] as ApiHandler[];
}
