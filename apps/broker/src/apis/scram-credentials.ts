// DescribeUserScramCredentials and AlterUserScramCredentials: SCRAM credentials kept in the
// metadata store (salt, StoredKey, ServerKey, iterations; never the password), with Kafka's checks
// and errors (ScramControlManager).

import {
  AlterUserScramCredentialsApi,
  type AlterUserScramCredentialsRequest,
  type AlterUserScramCredentialsResponse,
  DescribeUserScramCredentialsApi,
  type DescribeUserScramCredentialsRequest,
  type DescribeUserScramCredentialsResponse,
  ERROR_CODES,
} from '@sluice/protocol';
import {
  AclOperation,
  credentialFromSaltedPassword,
  SCRAM_MAX_ITERATIONS,
  SCRAM_MECHANISMS,
  SCRAM_MIN_ITERATIONS,
  type ScramMechanismName,
  scramMechanismByType,
} from '@sluice/security';
import { parseScramRecord, scramKey, scramRecord } from '../server/broker-security.js';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler } from '../server/dispatcher.js';
import { authorizeCluster } from './authorize.js';

const MAX_USERS_PER_REQUEST = 10_000;
const MAX_SALT_BYTES = 1024;
const MECHANISMS = Object.keys(SCRAM_MECHANISMS) as ScramMechanismName[];

export function describeUserScramCredentialsHandler(
  broker: BrokerContext,
): ApiHandler<DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse> {
  return {
    api: DescribeUserScramCredentialsApi,
    minVersion: 0,
    maxVersion: 0,
    handle(req, ctx) {
      if (!authorizeCluster(broker, ctx, AclOperation.DESCRIBE)) {
        return {
          throttleTimeMs: 0,
          errorCode: ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED,
          errorMessage: null,
          results: [],
        };
      }
      const records = broker.store.image.securityRecords('scram');
      const infos = (user: string) =>
        MECHANISMS.flatMap((m) => {
          const text = records.get(scramKey(user, m));
          const c = text === undefined ? undefined : parseScramRecord(text);
          return c ? [{ mechanism: SCRAM_MECHANISMS[m].type, iterations: c.iterations }] : [];
        });
      let users: string[];
      if (req.users === null) {
        // Every user with a credential, each once.
        users = [...new Set([...records.keys()].map((k) => k.slice(k.indexOf(':') + 1)))];
      } else {
        users = req.users.slice(0, MAX_USERS_PER_REQUEST).map((u) => u.name);
      }
      const counts = new Map<string, number>();
      for (const u of users) counts.set(u, (counts.get(u) ?? 0) + 1);
      const results: DescribeUserScramCredentialsResponse['results'] = [];
      for (const user of new Set(users)) {
        if (counts.get(user)! > 1) {
          results.push({
            user,
            errorCode: ERROR_CODES.DUPLICATE_RESOURCE,
            errorMessage: 'Cannot describe SCRAM credentials for the same user twice in a single request',
            credentialInfos: [],
          });
          continue;
        }
        const credentialInfos = infos(user);
        if (credentialInfos.length === 0) {
          results.push({
            user,
            errorCode: ERROR_CODES.RESOURCE_NOT_FOUND,
            errorMessage: 'Attempt to describe a user credential that does not exist',
            credentialInfos: [],
          });
          continue;
        }
        results.push({ user, errorCode: 0, errorMessage: null, credentialInfos });
      }
      return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, results };
    },
  };
}

export function alterUserScramCredentialsHandler(
  broker: BrokerContext,
): ApiHandler<AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse> {
  return {
    api: AlterUserScramCredentialsApi,
    minVersion: 0,
    maxVersion: 0,
    async handle(req, ctx) {
      const ops = [
        ...req.deletions.map((d) => ({ ...d, upsert: null })),
        ...req.upsertions.map((u) => ({ name: u.name, mechanism: u.mechanism, upsert: u })),
      ];
      const userNames = [...new Set(ops.map((o) => o.name))];
      if (!authorizeCluster(broker, ctx, AclOperation.ALTER)) {
        return {
          throttleTimeMs: 0,
          results: userNames.map((user) => ({
            user,
            errorCode: ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED,
            errorMessage: null,
          })),
        };
      }
      if (ops.length > MAX_USERS_PER_REQUEST) {
        return {
          throttleTimeMs: 0,
          results: userNames.map((user) => ({
            user,
            errorCode: ERROR_CODES.INVALID_REQUEST,
            errorMessage: 'Too many credentials in one request',
          })),
        };
      }
      const records = broker.store.image.securityRecords('scram');
      const errors = new Map<string, { errorCode: number; errorMessage: string }>();
      const fail = (user: string, errorCode: number, errorMessage: string) => {
        if (!errors.has(user)) errors.set(user, { errorCode, errorMessage });
      };
      const seen = new Set<string>();
      const changes: { kind: 'scram'; key: string; value: string | null }[] = [];
      for (const op of ops) {
        const mechanism = scramMechanismByType(op.mechanism);
        if (op.name === '') fail(op.name, ERROR_CODES.UNACCEPTABLE_CREDENTIAL, 'Username must not be empty');
        if (mechanism === undefined) {
          fail(op.name, ERROR_CODES.UNSUPPORTED_SASL_MECHANISM, 'Unknown SCRAM mechanism');
          continue;
        }
        const key = scramKey(op.name, mechanism);
        if (seen.has(key)) {
          fail(
            op.name,
            ERROR_CODES.DUPLICATE_RESOURCE,
            'A user credential cannot be altered twice in the same request',
          );
          continue;
        }
        seen.add(key);
        const u = op.upsert;
        if (u === null) {
          if (!records.has(key)) {
            fail(op.name, ERROR_CODES.RESOURCE_NOT_FOUND, 'Attempt to delete a user credential that does not exist');
          }
          changes.push({ kind: 'scram', key, value: null });
          continue;
        }
        if (u.iterations < SCRAM_MIN_ITERATIONS) {
          fail(op.name, ERROR_CODES.UNACCEPTABLE_CREDENTIAL, 'Too few iterations');
          continue;
        }
        if (u.iterations > SCRAM_MAX_ITERATIONS) {
          fail(op.name, ERROR_CODES.UNACCEPTABLE_CREDENTIAL, 'Too many iterations');
          continue;
        }
        const expectedLength = SCRAM_MECHANISMS[mechanism].hash === 'sha256' ? 32 : 64;
        if (u.salt.length === 0 || u.salt.length > MAX_SALT_BYTES || u.saltedPassword.length !== expectedLength) {
          fail(op.name, ERROR_CODES.UNACCEPTABLE_CREDENTIAL, 'Invalid salt or salted password');
          continue;
        }
        const credential = credentialFromSaltedPassword(
          mechanism,
          Buffer.from(u.saltedPassword),
          Buffer.from(u.salt),
          u.iterations,
        );
        changes.push({ kind: 'scram', key, value: scramRecord(credential) });
      }
      // A user with any failed alteration gets none of them (as Kafka).
      const accepted = changes.filter((c) => !errors.has(c.key.slice(c.key.indexOf(':') + 1)));
      if (accepted.length > 0) {
        try {
          await broker.store.setSecurityRecords(accepted);
        } catch (err) {
          for (const user of userNames) fail(user, ERROR_CODES.UNKNOWN_SERVER_ERROR, (err as Error).message);
        }
      }
      return {
        throttleTimeMs: 0,
        results: userNames.map((user) => {
          const e = errors.get(user);
          return { user, errorCode: e?.errorCode ?? 0, errorMessage: e?.errorMessage ?? null };
        }),
      };
    },
  };
}
