// Delegation tokens (KIP-48) as Kafka keeps them: a token id, its owner, who asked for it, who
// may renew it and three timestamps. The token's secret is HMAC-SHA512(delegation.token.secret.key,
// tokenId); it is never stored, each broker computes it from the shared key. A client logs in with
// SCRAM as user <tokenId> with password base64(hmac) and the `tokenauth=true` extension.

import { createHmac } from 'node:crypto';
import { createScramCredential, SCRAM_MIN_ITERATIONS, type ScramCredential, type ScramMechanismName } from './scram.js';

/** Kafka's TokenInformation; principals as `Type:name` (`User:alice`). */
export interface TokenInformation {
  tokenId: string;
  owner: string;
  /** Who created it (may differ from the owner: KIP-373 tokens made for another user). */
  requester: string;
  renewers: string[];
  issueTimestampMs: number;
  expiryTimestampMs: number;
  maxTimestampMs: number;
}

/** Kafka's token hmac: HMAC-SHA512 over the token id, keyed with the secret key's UTF-8 bytes. */
export function tokenHmac(secretKey: string, tokenId: string): Buffer {
  return createHmac('sha512', Buffer.from(secretKey, 'utf8')).update(tokenId, 'utf8').digest();
}

/**
 * The SCRAM credential a broker checks a token login against: the password is base64(hmac), with
 * the mechanism's minimum iterations (Kafka's DelegationTokenManager does the same).
 */
export function tokenScramCredential(mechanism: ScramMechanismName, hmac: Buffer): ScramCredential {
  return createScramCredential(mechanism, hmac.toString('base64'), SCRAM_MIN_ITERATIONS);
}

/** Kafka's TokenInformation.ownerOrRenewer: owner, requester or a named renewer. */
export function ownerOrRenewer(token: TokenInformation, principal: string): boolean {
  return token.owner === principal || token.requester === principal || token.renewers.includes(principal);
}

/** Who may renew or expire a token (Kafka's DelegationTokenControlManager.allowedToRenew): owner or renewer. */
export function allowedToRenew(token: TokenInformation, principal: string): boolean {
  return token.owner === principal || token.renewers.includes(principal);
}

/** Whether the token is past its expiry or its maximum lifetime at `nowMs` (Kafka compares with `<`). */
export function tokenExpired(token: TokenInformation, nowMs: number): boolean {
  return token.maxTimestampMs < nowMs || token.expiryTimestampMs < nowMs;
}

/** `Type:name` split at the first colon; a principal without one is a User. */
export function splitPrincipal(principal: string): { type: string; name: string } {
  const at = principal.indexOf(':');
  return at < 0 ? { type: 'User', name: principal } : { type: principal.slice(0, at), name: principal.slice(at + 1) };
}

/** The stored form of a token (everything but the hmac). */
export function tokenRecord(t: TokenInformation): string {
  return JSON.stringify({
    owner: t.owner,
    requester: t.requester,
    renewers: t.renewers,
    issue: t.issueTimestampMs,
    expiry: t.expiryTimestampMs,
    max: t.maxTimestampMs,
  });
}

const MAX_RENEWERS = 10_000;

/** A stored token, or undefined when the record is not one (a corrupt record is a token that does not exist). */
export function parseTokenRecord(tokenId: string, text: string): TokenInformation | undefined {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const { owner, requester, renewers, issue, expiry, max } = v;
    if (typeof owner !== 'string' || typeof requester !== 'string') return undefined;
    if (!Array.isArray(renewers) || renewers.length > MAX_RENEWERS || !renewers.every((r) => typeof r === 'string')) {
      return undefined;
    }
    if (![issue, expiry, max].every((x) => typeof x === 'number' && Number.isSafeInteger(x))) return undefined;
    return {
      tokenId,
      owner,
      requester,
      renewers: renewers as string[],
      issueTimestampMs: issue as number,
      expiryTimestampMs: expiry as number,
      maxTimestampMs: max as number,
    };
  } catch {
    return undefined;
  }
}
