// The broker's security state over the metadata store: SCRAM credentials (looked up at login) and
// the ACLs the authorizer decides with (kept in step with the store's changes).

import type { MetadataStore } from '@sluice/cluster/core';
import {
  type AclBinding,
  Authorizer,
  parseSuperUsers,
  type ScramCredential,
  type ScramMechanismName,
} from '@sluice/security';
import type { Logger } from 'pino';
import type { BrokerConfig } from '../config/index.js';
import { listenerConfig } from '../config/index.js';
import { DelegationTokens, delegationTokenSettings } from './delegation-tokens.js';

/** The store key of a SCRAM credential: the mechanism has no ':', the user name may hold anything. */
export const scramKey = (user: string, mechanism: ScramMechanismName) => `${mechanism}:${user}`;

export function scramRecord(c: ScramCredential): string {
  return JSON.stringify({
    salt: c.salt.toString('base64'),
    storedKey: c.storedKey.toString('base64'),
    serverKey: c.serverKey.toString('base64'),
    iterations: c.iterations,
  });
}

/** A stored credential, or undefined when the record is not one (a corrupt record refuses the login). */
export function parseScramRecord(text: string): ScramCredential | undefined {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (typeof v.salt !== 'string' || typeof v.storedKey !== 'string' || typeof v.serverKey !== 'string')
      return undefined;
    if (typeof v.iterations !== 'number' || !Number.isInteger(v.iterations) || v.iterations < 1) return undefined;
    return {
      salt: Buffer.from(v.salt, 'base64'),
      storedKey: Buffer.from(v.storedKey, 'base64'),
      serverKey: Buffer.from(v.serverKey, 'base64'),
      iterations: v.iterations,
    };
  } catch {
    return undefined;
  }
}

/** The store key of an ACL: every field, so that the same binding is stored once. */
export function aclKey(a: AclBinding): string {
  return JSON.stringify([
    a.resourceType,
    a.patternType,
    a.resourceName,
    a.principal,
    a.host,
    a.operation,
    a.permissionType,
  ]);
}

export function parseAclKey(key: string): AclBinding | undefined {
  try {
    const v = JSON.parse(key) as unknown[];
    if (!Array.isArray(v) || v.length !== 7) return undefined;
    const [resourceType, patternType, resourceName, principal, host, operation, permissionType] = v;
    if (typeof resourceName !== 'string' || typeof principal !== 'string' || typeof host !== 'string') return undefined;
    const ints = [resourceType, patternType, operation, permissionType];
    if (!ints.every((x) => typeof x === 'number' && Number.isInteger(x))) return undefined;
    return {
      resourceType: resourceType as number,
      patternType: patternType as number,
      resourceName,
      principal,
      host,
      operation: operation as number,
      permissionType: permissionType as number,
    };
  } catch {
    return undefined;
  }
}

export interface BrokerSecurity {
  /** Set when `authorizer.class.name` names an authorizer: every API then checks ACLs. */
  readonly authorizer: Authorizer | null;
  scramCredential(user: string, mechanism: ScramMechanismName): ScramCredential | undefined;
  /** Delegation tokens (off without delegation.token.secret.key). */
  readonly tokens?: DelegationTokens;
}

/** Kafka's authorizer class names; any non-empty `authorizer.class.name` turns the authorizer on. */
export function createBrokerSecurity(
  config: BrokerConfig,
  store: MetadataStore,
  options: { logger?: Logger } = {},
): BrokerSecurity {
  const get = (name: string) => listenerConfig(config, '', name);
  const className = (get('authorizer.class.name') ?? '').trim();
  let authorizer: Authorizer | null = null;
  if (className !== '') {
    authorizer = new Authorizer({
      superUsers: parseSuperUsers(get('super.users')),
      allowEveryoneIfNoAclFound: (get('allow.everyone.if.no.acl.found') ?? 'false').trim().toLowerCase() === 'true',
    });
    const a = authorizer;
    const load = () => {
      const acls: AclBinding[] = [];
      for (const key of store.image.securityRecords('acls').keys()) {
        const acl = parseAclKey(key);
        if (acl) acls.push(acl);
      }
      a.setAcls(acls);
    };
    load();
    store.onChange((changes) => {
      if (changes.some((c) => c.type === 'security' && c.kind === 'acls')) load();
    });
  }
  return {
    authorizer,
    tokens: new DelegationTokens(delegationTokenSettings(config), store, {
      nodeId: config.nodeId,
      logger: options.logger,
    }),
    scramCredential(user, mechanism) {
      const text = store.image.securityRecords('scram').get(scramKey(user, mechanism));
      return text === undefined ? undefined : parseScramRecord(text);
    },
  };
}
