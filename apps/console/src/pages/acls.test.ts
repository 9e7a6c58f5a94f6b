import { AclOperation, AclPermissionType, PatternType, ResourceType } from '@sluice/security';
import { describe, expect, it } from 'vitest';
import { InputError } from '../validate.js';
import { aclFromForm, OPERATIONS, PATTERN_TYPES, PERMISSIONS, RESOURCE_TYPES } from './acls.js';

const form = (over: Record<string, string> = {}) => ({
  resourceType: 'TOPIC',
  resourceName: 'orders',
  patternType: 'LITERAL',
  principal: 'User:alice',
  host: '*',
  operation: 'READ',
  permissionType: 'ALLOW',
  ...over,
});

describe('the ACL form', () => {
  it("offers kafka-acls' names for every binding code and none of the filter-only ones", () => {
    expect(Object.keys(RESOURCE_TYPES)).toEqual([
      'TOPIC',
      'GROUP',
      'CLUSTER',
      'TRANSACTIONAL_ID',
      'DELEGATION_TOKEN',
      'USER',
    ]);
    expect(Object.keys(PATTERN_TYPES)).toEqual(['LITERAL', 'PREFIXED']);
    expect(Object.keys(PERMISSIONS)).toEqual(['DENY', 'ALLOW']);
    expect(Object.keys(OPERATIONS)).toEqual([
      'ALL',
      'READ',
      'WRITE',
      'CREATE',
      'DELETE',
      'ALTER',
      'DESCRIBE',
      'CLUSTER_ACTION',
      'DESCRIBE_CONFIGS',
      'ALTER_CONFIGS',
      'IDEMPOTENT_WRITE',
      'CREATE_TOKENS',
      'DESCRIBE_TOKENS',
    ]);
  });

  it('turns the names into the wire codes @sluice/security defines', () => {
    expect(aclFromForm(form())).toEqual({
      resourceType: ResourceType.TOPIC,
      resourceName: 'orders',
      patternType: PatternType.LITERAL,
      principal: 'User:alice',
      host: '*',
      operation: AclOperation.READ,
      permissionType: AclPermissionType.ALLOW,
    });
    const acl = aclFromForm(
      form({ resourceType: 'USER', patternType: 'PREFIXED', operation: 'DESCRIBE_TOKENS', permissionType: 'DENY' }),
    );
    expect(acl.resourceType).toBe(ResourceType.USER);
    expect(acl.patternType).toBe(PatternType.PREFIXED);
    expect(acl.operation).toBe(AclOperation.DESCRIBE_TOKENS);
    expect(acl.permissionType).toBe(AclPermissionType.DENY);
  });

  it('refuses the codes only a filter may hold', () => {
    const filterOnly: Record<string, string>[] = [
      { resourceType: 'ANY' },
      { resourceType: 'UNKNOWN' },
      { patternType: 'MATCH' },
      { patternType: 'ANY' },
      { operation: 'ANY' },
      { permissionType: 'ANY' },
    ];
    for (const over of filterOnly) {
      expect(() => aclFromForm(form(over))).toThrow(InputError);
    }
  });
});
