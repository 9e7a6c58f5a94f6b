// Delegation tokens over the metadata store (KIP-48), as Kafka's DelegationTokenManager and the
// controller's DelegationTokenControlManager keep them: token records by id in the store (the
// embedded file on one node, etcd in a cluster), so every broker with the same
// delegation.token.secret.key knows every token; the hmac is computed here from that key, never
// stored. The controller removes expired tokens every delegation.token.expiry.check.interval.ms.

import type { MetadataStore } from '@sluice/cluster/core';
import {
  parseTokenRecord,
  type ScramCredential,
  type ScramMechanismName,
  type ScramTokenCredential,
  type TokenInformation,
  tokenExpired,
  tokenHmac,
  tokenScramCredential,
} from '@sluice/security';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/index.js';
import { listenerConfig } from '../config/index.js';

export interface DelegationTokenSettings {
  /** delegation.token.secret.key; null or empty: the feature is off (DELEGATION_TOKEN_AUTH_DISABLED). */
  secretKey: string | null;
  /** delegation.token.max.lifetime.ms */
  maxLifetimeMs: number;
  /** delegation.token.expiry.time.ms: how long a token lives before it must be renewed. */
  expiryTimeMs: number;
  /** delegation.token.expiry.check.interval.ms */
  expiryCheckIntervalMs: number;
}

function positive(text: string | null, fallback: number): number {
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

export function delegationTokenSettings(config: BrokerConfig): DelegationTokenSettings {
  const get = (name: string) => listenerConfig(config, '', name);
  const secret = get('delegation.token.secret.key');
  return {
    secretKey: secret === null || secret === '' ? null : secret,
    maxLifetimeMs: positive(get('delegation.token.max.lifetime.ms'), 604_800_000),
    expiryTimeMs: positive(get('delegation.token.expiry.time.ms'), 86_400_000),
    expiryCheckIntervalMs: positive(get('delegation.token.expiry.check.interval.ms'), 3_600_000),
  };
}

export class DelegationTokens {
  /** base64(hmac) → token id, for Renew/Expire, which name a token by its hmac. */
  private readonly byHmac = new Map<string, string>();
  /** SCRAM credentials derived from a token's hmac, made at its first login (4096 PBKDF2 rounds). */
  private readonly credentials = new Map<string, ScramCredential>();
  private readonly sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly settings: DelegationTokenSettings,
    private readonly store: MetadataStore,
    private readonly options: { nodeId: number; logger?: Logger; now?: () => number } = { nodeId: -1 },
  ) {
    if (settings.secretKey === null) return;
    for (const id of store.image.securityRecords('tokens').keys()) this.indexed(id, true);
    store.onChange((changes) => {
      for (const c of changes) {
        if (c.type !== 'security' || c.kind !== 'tokens') continue;
        this.indexed(c.key, c.after !== undefined);
      }
    });
    this.sweepTimer = setInterval(() => void this.sweep(), settings.expiryCheckIntervalMs);
    this.sweepTimer.unref();
  }

  get enabled(): boolean {
    return this.settings.secretKey !== null;
  }

  now(): number {
    return (this.options.now ?? Date.now)();
  }

  hmac(tokenId: string): Buffer {
    return tokenHmac(this.settings.secretKey!, tokenId);
  }

  private indexed(tokenId: string, present: boolean): void {
    const hmac = this.hmac(tokenId).toString('base64');
    if (present) this.byHmac.set(hmac, tokenId);
    else {
      this.byHmac.delete(hmac);
      this.credentials.delete(`SCRAM-SHA-256:${tokenId}`);
      this.credentials.delete(`SCRAM-SHA-512:${tokenId}`);
    }
  }

  /** A token by id with the record text it was read from (the compare-and-swap's expected value). */
  get(tokenId: string): { token: TokenInformation; text: string } | undefined {
    const text = this.store.image.securityRecords('tokens').get(tokenId);
    const token = text === undefined ? undefined : parseTokenRecord(tokenId, text);
    return token && text !== undefined ? { token, text } : undefined;
  }

  /** The token an hmac belongs to (Renew/Expire), or undefined. */
  byHmacOf(hmac: Buffer): { token: TokenInformation; text: string } | undefined {
    if (!this.enabled) return undefined;
    const id = this.byHmac.get(hmac.toString('base64'));
    return id === undefined ? undefined : this.get(id);
  }

  /** Every stored token, expired ones included until the sweep removes them (as Kafka's cache). */
  all(): TokenInformation[] {
    const out: TokenInformation[] = [];
    for (const [id, text] of this.store.image.securityRecords('tokens')) {
      const t = parseTokenRecord(id, text);
      if (t) out.push(t);
    }
    return out;
  }

  /** SCRAM login with `tokenauth=true`: the token's credential, or undefined (unknown, expired, feature off). */
  scramCredential(tokenId: string, mechanism: ScramMechanismName): ScramTokenCredential | undefined {
    if (!this.enabled) return undefined;
    const found = this.get(tokenId);
    if (!found || tokenExpired(found.token, this.now())) return undefined;
    const key = `${mechanism}:${tokenId}`;
    let credential = this.credentials.get(key);
    if (!credential) {
      credential = tokenScramCredential(mechanism, this.hmac(tokenId));
      this.credentials.set(key, credential);
    }
    const owner = found.token.owner;
    return {
      credential,
      ownerName: owner.slice(owner.indexOf(':') + 1),
      expiryTimestampMs: found.token.expiryTimestampMs,
    };
  }

  /** The controller's periodic job: removes tokens past their expiry or maximum lifetime. */
  async sweep(): Promise<number> {
    if (this.store.image.controller?.nodeId !== this.options.nodeId) return 0;
    const now = this.now();
    const changes = [];
    for (const [id, text] of this.store.image.securityRecords('tokens')) {
      const t = parseTokenRecord(id, text);
      // A record that does not parse is left as it is (it authenticates nobody).
      if (!t || !tokenExpired(t, now)) continue;
      this.options.logger?.info({ tokenId: id, owner: t.owner }, 'delegation token expired, removed');
      changes.push({ kind: 'tokens' as const, key: id, value: null, expected: text });
    }
    if (changes.length === 0) return 0;
    try {
      await this.store.setSecurityRecords(changes);
    } catch (err) {
      // A token renewed meanwhile stays; the next sweep looks again.
      this.options.logger?.warn({ err }, 'removing expired delegation tokens failed');
      return 0;
    }
    return changes.length;
  }

  close(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }
}
