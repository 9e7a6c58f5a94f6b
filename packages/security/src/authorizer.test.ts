import { describe, expect, it } from 'vitest';
import {
  type AclBinding,
  Authorizer,
  filterMatches,
  invalidAclReason,
  AclOperation as Op,
  PatternType,
  AclPermissionType as Perm,
  parseSuperUsers,
  ResourceType as RT,
} from './authorizer.js';

const acl = (over: Partial<AclBinding>): AclBinding => ({
  resourceType: RT.TOPIC,
  resourceName: 'orders',
  patternType: PatternType.LITERAL,
  principal: 'User:alice',
  host: '*',
  operation: Op.READ,
  permissionType: Perm.ALLOW,
  ...over,
});
const alice = { principal: 'User:alice', host: '10.0.0.1' };
const bob = { principal: 'User:bob', host: '10.0.0.2' };

function authz(acls: AclBinding[], options = {}) {
  const a = new Authorizer(options);
  a.setAcls(acls);
  return a;
}

describe('Authorizer (StandardAuthorizer semantics)', () => {
  it('allows what an ALLOW ACL names and denies the rest once the resource has ACLs', () => {
    const a = authz([acl({})]);
    expect(a.authorize(alice, Op.READ, RT.TOPIC, 'orders')).toBe(true);
    expect(a.authorize(alice, Op.WRITE, RT.TOPIC, 'orders')).toBe(false);
    expect(a.authorize(bob, Op.READ, RT.TOPIC, 'orders')).toBe(false);
  });

  it('READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS; only for ALLOW', () => {
    for (const op of [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER]) {
      expect(authz([acl({ operation: op })]).authorize(alice, Op.DESCRIBE, RT.TOPIC, 'orders')).toBe(true);
    }
    expect(authz([acl({ operation: Op.CREATE })]).authorize(alice, Op.DESCRIBE, RT.TOPIC, 'orders')).toBe(false);
    expect(
      authz([acl({ operation: Op.ALTER_CONFIGS })]).authorize(alice, Op.DESCRIBE_CONFIGS, RT.TOPIC, 'orders'),
    ).toBe(true);
    // A DENY of READ does not deny DESCRIBE.
    const a = authz([acl({ operation: Op.DESCRIBE }), acl({ permissionType: Perm.DENY })]);
    expect(a.authorize(alice, Op.DESCRIBE, RT.TOPIC, 'orders')).toBe(true);
    expect(a.authorize(alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
  });

  it('DENY wins over ALLOW, also through wildcard and prefixed patterns; ALL covers every operation', () => {
    const a = authz([
      acl({ operation: Op.ALL }),
      acl({ resourceName: 'ord', patternType: PatternType.PREFIXED, operation: Op.WRITE, permissionType: Perm.DENY }),
    ]);
    expect(a.authorize(alice, Op.READ, RT.TOPIC, 'orders')).toBe(true);
    expect(a.authorize(alice, Op.WRITE, RT.TOPIC, 'orders')).toBe(false);
    const b = authz([
      acl({}),
      acl({ resourceName: '*', principal: 'User:*', permissionType: Perm.DENY, operation: Op.ALL }),
    ]);
    expect(b.authorize(alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
  });

  it('matches prefixed and wildcard resources, the wildcard principal and hosts', () => {
    const a = authz([
      acl({ resourceName: 'pay', patternType: PatternType.PREFIXED }),
      acl({ resourceName: '*', principal: 'User:*', operation: Op.WRITE, host: '10.0.0.2' }),
    ]);
    expect(a.authorize(alice, Op.READ, RT.TOPIC, 'payments')).toBe(true);
    expect(a.authorize(alice, Op.READ, RT.TOPIC, 'pa')).toBe(false);
    expect(a.authorize(bob, Op.WRITE, RT.TOPIC, 'anything')).toBe(true);
    expect(a.authorize(alice, Op.WRITE, RT.TOPIC, 'anything')).toBe(false); // wrong host
    // A literal ACL on a name that is a prefix of the resource does not match it.
    expect(authz([acl({ resourceName: 'ord' })]).authorize(alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
  });

  it('with no ACL on the resource: allow.everyone.if.no.acl.found decides; ACLs for others still count', () => {
    expect(authz([]).authorize(alice, Op.READ, RT.TOPIC, 'x')).toBe(false);
    expect(authz([], { allowEveryoneIfNoAclFound: true }).authorize(alice, Op.READ, RT.TOPIC, 'x')).toBe(true);
    // bob has an ACL on the topic: alice is denied even with allow.everyone.if.no.acl.found.
    const a = authz([acl({ principal: 'User:bob' })], { allowEveryoneIfNoAclFound: true });
    expect(a.authorize(alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
    expect(a.authorize(alice, Op.READ, RT.TOPIC, 'other')).toBe(true);
    // Resource types are separate: a group ACL says nothing about topics.
    expect(
      authz([acl({ resourceType: RT.GROUP })], { allowEveryoneIfNoAclFound: true }).authorize(
        alice,
        Op.READ,
        RT.TOPIC,
        'orders',
      ),
    ).toBe(true);
  });

  it('super users are allowed everything, even against a DENY', () => {
    const a = authz([acl({ principal: 'User:*', operation: Op.ALL, permissionType: Perm.DENY })], {
      superUsers: parseSuperUsers('User:admin; User:ops'),
    });
    expect(a.authorize({ principal: 'User:ops', host: '1.2.3.4' }, Op.WRITE, RT.TOPIC, 'orders')).toBe(true);
    expect(a.authorize(alice, Op.WRITE, RT.TOPIC, 'orders')).toBe(false);
  });

  it('validates bindings as CreateAcls does and matches filters as DescribeAcls/DeleteAcls do', () => {
    expect(invalidAclReason(acl({}))).toBeNull();
    expect(invalidAclReason(acl({ patternType: PatternType.MATCH }))).toMatch('pattern');
    expect(invalidAclReason(acl({ operation: Op.ANY }))).toMatch('operation');
    expect(invalidAclReason(acl({ resourceType: RT.CLUSTER, resourceName: 'x' }))).toMatch('kafka-cluster');
    expect(invalidAclReason(acl({ principal: 'alice' }))).toMatch('principal');
    const any = {
      resourceType: RT.ANY,
      resourceName: null,
      patternType: PatternType.ANY,
      principal: null,
      host: null,
      operation: Op.ANY,
      permissionType: Perm.ANY,
    };
    expect(filterMatches(any, acl({}))).toBe(true);
    const match = { ...any, resourceType: RT.TOPIC, resourceName: 'orders-eu', patternType: PatternType.MATCH };
    expect(filterMatches(match, acl({ resourceName: 'orders', patternType: PatternType.PREFIXED }))).toBe(true);
    expect(filterMatches(match, acl({ resourceName: '*' }))).toBe(true);
    expect(filterMatches(match, acl({ resourceName: 'orders' }))).toBe(false);
    expect(
      filterMatches({ ...any, patternType: PatternType.LITERAL }, acl({ patternType: PatternType.PREFIXED })),
    ).toBe(false);
  });
});
