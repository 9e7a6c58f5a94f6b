// CreateAcls, DescribeAcls and DeleteAcls over the ACLs in the metadata store, as Kafka answers
// them: SECURITY_DISABLED without an authorizer, ALTER (create, delete) or DESCRIBE on the cluster.

import {
  CreateAclsApi,
  type CreateAclsRequest,
  type CreateAclsResponse,
  DeleteAclsApi,
  type DeleteAclsRequest,
  type DeleteAclsResponse,
  DescribeAclsApi,
  type DescribeAclsRequest,
  type DescribeAclsResponse,
  type DescribeAclsResponseDescribeAclsResource,
  ERROR_CODES,
} from '@sluice/protocol';
import {
  type AclBinding,
  type AclBindingFilter,
  AclOperation,
  AclPermissionType,
  filterMatches,
  invalidAclReason,
  PatternType,
  ResourceType,
} from '@sluice/security';
import { aclKey } from '../server/broker-security.js';
import type { BrokerContext } from '../server/context.js';
import type { ApiHandler, RequestContext } from '../server/dispatcher.js';
import { authorizeCluster } from './authorize.js';

/** ACLs one CreateAcls or DeleteAcls request may change; the store writes them in chunks. */
const MAX_ACLS_PER_REQUEST = 10_000;
const NO_AUTHORIZER = 'No Authorizer is configured.';

function filterOf(f: DescribeAclsRequest | DeleteAclsRequest['filters'][number]): AclBindingFilter {
  return {
    resourceType: f.resourceTypeFilter,
    resourceName: f.resourceNameFilter,
    patternType: f.patternTypeFilter,
    principal: f.principalFilter,
    host: f.hostFilter,
    operation: f.operation,
    permissionType: f.permissionType,
  };
}

/** Why a filter cannot match anything Kafka stores (an UNKNOWN code), or null. */
function invalidFilterReason(f: AclBindingFilter): string | null {
  if (f.resourceType === ResourceType.UNKNOWN || f.resourceType > ResourceType.USER) return 'Invalid resource type';
  if (f.patternType === PatternType.UNKNOWN || f.patternType > PatternType.PREFIXED) return 'Invalid pattern type';
  if (f.operation === AclOperation.UNKNOWN || f.operation > AclOperation.DESCRIBE_TOKENS) return 'Invalid operation';
  if (f.permissionType === AclPermissionType.UNKNOWN || f.permissionType > AclPermissionType.ALLOW) {
    return 'Invalid permission type';
  }
  return null;
}

export function createAclsHandler(broker: BrokerContext): ApiHandler<CreateAclsRequest, CreateAclsResponse> {
  return {
    api: CreateAclsApi,
    // v0 (no pattern types) is gone since Kafka 4.0 (KIP-896).
    minVersion: 1,
    maxVersion: 3,
    async handle(req, ctx) {
      const each = (errorCode: number, errorMessage: string | null) =>
        req.creations.map(() => ({ errorCode, errorMessage }));
      if (!broker.security?.authorizer)
        return { throttleTimeMs: 0, results: each(ERROR_CODES.SECURITY_DISABLED, NO_AUTHORIZER) };
      if (!authorizeCluster(broker, ctx, AclOperation.ALTER)) {
        return { throttleTimeMs: 0, results: each(ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED, null) };
      }
      if (req.creations.length > MAX_ACLS_PER_REQUEST) {
        return {
          throttleTimeMs: 0,
          results: each(ERROR_CODES.INVALID_REQUEST, `More than ${MAX_ACLS_PER_REQUEST} ACLs in one request`),
        };
      }
      const results: CreateAclsResponse['results'] = [];
      const changes: { kind: 'acls'; key: string; value: string }[] = [];
      for (const c of req.creations) {
        const acl: AclBinding = {
          resourceType: c.resourceType,
          resourceName: c.resourceName,
          patternType: c.resourcePatternType,
          principal: c.principal,
          host: c.host,
          operation: c.operation,
          permissionType: c.permissionType,
        };
        const why = invalidAclReason(acl);
        if (why !== null) {
          results.push({ errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: why });
          continue;
        }
        results.push({ errorCode: 0, errorMessage: null });
        changes.push({ kind: 'acls', key: aclKey(acl), value: '{}' });
      }
      if (changes.length > 0) {
        try {
          await broker.store.setSecurityRecords(changes);
        } catch (err) {
          const message = (err as Error).message;
          return { throttleTimeMs: 0, results: each(ERROR_CODES.UNKNOWN_SERVER_ERROR, message) };
        }
      }
      return { throttleTimeMs: 0, results };
    },
  };
}

function currentAcls(broker: BrokerContext): readonly AclBinding[] {
  return broker.security?.authorizer?.acls ?? [];
}

export function describeAclsHandler(broker: BrokerContext): ApiHandler<DescribeAclsRequest, DescribeAclsResponse> {
  return {
    api: DescribeAclsApi,
    // v0 (no pattern types) is gone since Kafka 4.0 (KIP-896).
    minVersion: 1,
    maxVersion: 3,
    handle(req, ctx) {
      const fail = (errorCode: number, errorMessage: string | null): DescribeAclsResponse => ({
        throttleTimeMs: 0,
        errorCode,
        errorMessage,
        resources: [],
      });
      if (!broker.security?.authorizer) return fail(ERROR_CODES.SECURITY_DISABLED, NO_AUTHORIZER);
      if (!authorizeCluster(broker, ctx, AclOperation.DESCRIBE))
        return fail(ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED, null);
      const filter = filterOf(req);
      const why = invalidFilterReason(filter);
      if (why !== null) return fail(ERROR_CODES.INVALID_REQUEST, why);
      // Grouped by resource pattern, as Kafka answers.
      const byResource = new Map<string, DescribeAclsResponseDescribeAclsResource>();
      for (const acl of currentAcls(broker)) {
        if (!filterMatches(filter, acl)) continue;
        const key = JSON.stringify([acl.resourceType, acl.resourceName, acl.patternType]);
        let r = byResource.get(key);
        if (!r) {
          r = {
            resourceType: acl.resourceType,
            resourceName: acl.resourceName,
            patternType: acl.patternType,
            acls: [],
          };
          byResource.set(key, r);
        }
        r.acls.push({
          principal: acl.principal,
          host: acl.host,
          operation: acl.operation,
          permissionType: acl.permissionType,
        });
      }
      return { throttleTimeMs: 0, errorCode: 0, errorMessage: null, resources: [...byResource.values()] };
    },
  };
}

export function deleteAclsHandler(broker: BrokerContext): ApiHandler<DeleteAclsRequest, DeleteAclsResponse> {
  return {
    api: DeleteAclsApi,
    // v0 (no pattern types) is gone since Kafka 4.0 (KIP-896).
    minVersion: 1,
    maxVersion: 3,
    async handle(req, ctx: RequestContext) {
      const each = (errorCode: number, errorMessage: string | null) =>
        req.filters.map(() => ({ errorCode, errorMessage, matchingAcls: [] }));
      if (!broker.security?.authorizer)
        return { throttleTimeMs: 0, filterResults: each(ERROR_CODES.SECURITY_DISABLED, NO_AUTHORIZER) };
      if (!authorizeCluster(broker, ctx, AclOperation.ALTER)) {
        return { throttleTimeMs: 0, filterResults: each(ERROR_CODES.CLUSTER_AUTHORIZATION_FAILED, null) };
      }
      const acls = currentAcls(broker);
      const deleted = new Set<string>();
      const filterResults: DeleteAclsResponse['filterResults'] = [];
      for (const f of req.filters) {
        const filter = filterOf(f);
        const why = invalidFilterReason(filter);
        if (why !== null) {
          filterResults.push({ errorCode: ERROR_CODES.INVALID_REQUEST, errorMessage: why, matchingAcls: [] });
          continue;
        }
        const matching = acls.filter((a) => filterMatches(filter, a));
        if (deleted.size + matching.length > MAX_ACLS_PER_REQUEST) {
          filterResults.push({
            errorCode: ERROR_CODES.INVALID_REQUEST,
            errorMessage: `More than ${MAX_ACLS_PER_REQUEST} ACLs in one request`,
            matchingAcls: [],
          });
          continue;
        }
        for (const a of matching) deleted.add(aclKey(a));
        filterResults.push({
          errorCode: 0,
          errorMessage: null,
          matchingAcls: matching.map((a) => ({ errorCode: 0, errorMessage: null, ...a })),
        });
      }
      if (deleted.size > 0) {
        try {
          await broker.store.setSecurityRecords(
            [...deleted].map((key) => ({ kind: 'acls' as const, key, value: null })),
          );
        } catch (err) {
          return { throttleTimeMs: 0, filterResults: each(ERROR_CODES.UNKNOWN_SERVER_ERROR, (err as Error).message) };
        }
      }
      return { throttleTimeMs: 0, filterResults };
    },
  };
}
