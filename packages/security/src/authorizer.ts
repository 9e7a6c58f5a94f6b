// ACLs and the decision over them with Kafka's StandardAuthorizer semantics: a super user is
// allowed everything; otherwise a matching DENY wins over any ALLOW; an ALLOW of READ, WRITE,
// DELETE or ALTER implies DESCRIBE and one of ALTER_CONFIGS implies DESCRIBE_CONFIGS (for ALLOW
// only); a resource no ACL matches at all is allowed only with allow.everyone.if.no.acl.found.

/** Kafka's ResourceType codes (CreateAcls, DescribeAcls, DeleteAcls). */
export const ResourceType = {
  UNKNOWN: 0,
  ANY: 1,
  TOPIC: 2,
  GROUP: 3,
  CLUSTER: 4,
  TRANSACTIONAL_ID: 5,
  DELEGATION_TOKEN: 6,
  USER: 7,
} as const;

/** Kafka's PatternType codes; ANY and MATCH occur only in filters. */
export const PatternType = { UNKNOWN: 0, ANY: 1, MATCH: 2, LITERAL: 3, PREFIXED: 4 } as const;

/** Kafka's AclOperation codes; ANY occurs only in filters. */
export const AclOperation = {
  UNKNOWN: 0,
  ANY: 1,
  ALL: 2,
  READ: 3,
  WRITE: 4,
  CREATE: 5,
  DELETE: 6,
  ALTER: 7,
  DESCRIBE: 8,
  CLUSTER_ACTION: 9,
  DESCRIBE_CONFIGS: 10,
  ALTER_CONFIGS: 11,
  IDEMPOTENT_WRITE: 12,
  CREATE_TOKENS: 13,
  DESCRIBE_TOKENS: 14,
} as const;

export const AclPermissionType = { UNKNOWN: 0, ANY: 1, DENY: 2, ALLOW: 3 } as const;

export const WILDCARD = '*';
export const WILDCARD_PRINCIPAL = 'User:*';
/** The one cluster resource's name. */
export const CLUSTER_NAME = 'kafka-cluster';

/** One ACL: a resource pattern and an access control entry, with Kafka's codes. */
export interface AclBinding {
  resourceType: number;
  resourceName: string;
  patternType: number;
  /** `User:alice`, or `User:*`. */
  principal: string;
  /** An IP address, or `*`. */
  host: string;
  operation: number;
  permissionType: number;
}

/** A DescribeAcls/DeleteAcls filter: null fields and the ANY codes match everything. */
export interface AclBindingFilter {
  resourceType: number;
  resourceName: string | null;
  patternType: number;
  principal: string | null;
  host: string | null;
  operation: number;
  permissionType: number;
}

const IMPLIES_DESCRIBE: ReadonlySet<number> = new Set([
  AclOperation.DESCRIBE,
  AclOperation.READ,
  AclOperation.WRITE,
  AclOperation.DELETE,
  AclOperation.ALTER,
]);
const IMPLIES_DESCRIBE_CONFIGS: ReadonlySet<number> = new Set([
  AclOperation.DESCRIBE_CONFIGS,
  AclOperation.ALTER_CONFIGS,
]);

export interface AuthorizerOptions {
  /** `super.users`: principals (`User:admin`) allowed everything. */
  superUsers?: readonly string[];
  /** `allow.everyone.if.no.acl.found`. */
  allowEveryoneIfNoAclFound?: boolean;
}

/** Who asks: the session's principal and the client's address. */
export interface RequestIdentity {
  principal: string;
  host: string;
}

/** Why an ACL binding is not valid to store (CreateAcls answers INVALID_REQUEST with this), or null. */
export function invalidAclReason(acl: AclBinding): string | null {
  if (acl.resourceType <= ResourceType.ANY || acl.resourceType > ResourceType.USER) return 'Invalid resource type';
  if (acl.patternType !== PatternType.LITERAL && acl.patternType !== PatternType.PREFIXED) {
    return 'Invalid pattern type';
  }
  if (acl.operation <= AclOperation.ANY || acl.operation > AclOperation.DESCRIBE_TOKENS) return 'Invalid operation';
  if (acl.permissionType !== AclPermissionType.ALLOW && acl.permissionType !== AclPermissionType.DENY) {
    return 'Invalid permission type';
  }
  if (acl.resourceName === '') return 'Resource name should not be empty';
  if (acl.patternType === PatternType.PREFIXED && acl.resourceName === WILDCARD) {
    // Kafka's ResourcePattern refuses a prefixed '*' (LITERAL '*' is the wildcard).
    return 'Prefixed wildcard resource patterns are not allowed';
  }
  if (!/^[^:]+:.*/.test(acl.principal)) return `Could not parse principal from \`${acl.principal}\``;
  if (acl.resourceType === ResourceType.CLUSTER && acl.resourceName !== CLUSTER_NAME) {
    return `The only valid name for the CLUSTER resource is ${CLUSTER_NAME}`;
  }
  return null;
}

/** Whether `filter` matches `acl`, as Kafka's AclBindingFilter.matches (MATCH patterns included). */
export function filterMatches(filter: AclBindingFilter, acl: AclBinding): boolean {
  if (filter.resourceType !== ResourceType.ANY && filter.resourceType !== acl.resourceType) return false;
  if (!patternFilterMatches(filter, acl)) return false;
  if (filter.principal !== null && filter.principal !== acl.principal) return false;
  if (filter.host !== null && filter.host !== acl.host) return false;
  if (filter.operation !== AclOperation.ANY && filter.operation !== acl.operation) return false;
  if (filter.permissionType !== AclPermissionType.ANY && filter.permissionType !== acl.permissionType) return false;
  return true;
}

function patternFilterMatches(filter: AclBindingFilter, acl: AclBinding): boolean {
  const name = filter.resourceName;
  switch (filter.patternType) {
    case PatternType.ANY:
      return name === null || name === acl.resourceName;
    case PatternType.MATCH:
      // Every stored pattern that would match a resource of this exact name.
      if (name === null) return true;
      if (acl.patternType === PatternType.LITERAL) return acl.resourceName === name || acl.resourceName === WILDCARD;
      return name.startsWith(acl.resourceName);
    default:
      return filter.patternType === acl.patternType && (name === null || name === acl.resourceName);
  }
}

/** The ACLs of one resource type, kept for lookups by name. */
interface TypeIndex {
  literal: Map<string, AclBinding[]>;
  prefixed: AclBinding[];
}

/**
 * The decision function over a set of ACLs. The set is replaced whole (`setAcls`) when the
 * metadata store changes; decisions read the current set synchronously.
 */
export class Authorizer {
  private readonly superUsers: ReadonlySet<string>;
  private readonly allowIfNoAcl: boolean;
  private byType = new Map<number, TypeIndex>();
  private all: readonly AclBinding[] = [];

  constructor(options: AuthorizerOptions = {}) {
    this.superUsers = new Set(options.superUsers ?? []);
    this.allowIfNoAcl = options.allowEveryoneIfNoAclFound ?? false;
  }

  get acls(): readonly AclBinding[] {
    return this.all;
  }

  setAcls(acls: Iterable<AclBinding>): void {
    const byType = new Map<number, TypeIndex>();
    const all: AclBinding[] = [];
    for (const acl of acls) {
      all.push(acl);
      let index = byType.get(acl.resourceType);
      if (!index) byType.set(acl.resourceType, (index = { literal: new Map(), prefixed: [] }));
      if (acl.patternType === PatternType.PREFIXED) index.prefixed.push(acl);
      else {
        const list = index.literal.get(acl.resourceName);
        if (list) list.push(acl);
        else index.literal.set(acl.resourceName, [acl]);
      }
    }
    this.byType = byType;
    this.all = all;
  }

  isSuperUser(principal: string): boolean {
    return this.superUsers.has(principal);
  }

  /**
   * Whether `who` may do `operation` on some resource of the type (Kafka's authorizeByResourceType,
   * used by InitProducerId: WRITE on any topic): an ALLOW that matches the principal and host, and
   * no DENY of the wildcard resource that covers it. With no ACL of that type at all,
   * allow.everyone.if.no.acl.found decides.
   */
  authorizeAny(who: RequestIdentity, operation: number, resourceType: number): boolean {
    if (this.superUsers.has(who.principal)) return true;
    const index = this.byType.get(resourceType);
    if (!index) return this.allowIfNoAcl;
    const wildcard = index.literal.get(WILDCARD) ?? [];
    if (wildcard.some((acl) => aclResult(who, operation, acl) === 'deny')) return false;
    const all = [...index.literal.values(), index.prefixed];
    return all.some((list) => list.some((acl) => aclResult(who, operation, acl) === 'allow'));
  }

  /** Whether `who` may do `operation` on the resource `resourceType`/`name`. */
  authorize(who: RequestIdentity, operation: number, resourceType: number, name: string): boolean {
    if (this.superUsers.has(who.principal)) return true;
    const index = this.byType.get(resourceType);
    if (!index) return this.allowIfNoAcl;
    let hasResourceAcls = false;
    let allowed = false;
    const consider = (list: readonly AclBinding[] | undefined): boolean => {
      if (!list) return false;
      for (const acl of list) {
        hasResourceAcls = true;
        const result = aclResult(who, operation, acl);
        if (result === 'deny') return true;
        if (result === 'allow') allowed = true;
      }
      return false;
    };
    if (consider(index.literal.get(name))) return false;
    if (name !== WILDCARD && consider(index.literal.get(WILDCARD))) return false;
    if (index.prefixed.length > 0) {
      const matching = index.prefixed.filter((acl) => name.startsWith(acl.resourceName));
      if (consider(matching)) return false;
    }
    if (allowed) return true;
    return hasResourceAcls ? false : this.allowIfNoAcl;
  }
}

function aclResult(who: RequestIdentity, operation: number, acl: AclBinding): 'allow' | 'deny' | null {
  if (acl.principal !== who.principal && acl.principal !== WILDCARD_PRINCIPAL) return null;
  if (acl.host !== WILDCARD && acl.host !== who.host) return null;
  const allow = acl.permissionType === AclPermissionType.ALLOW;
  if (acl.operation !== AclOperation.ALL) {
    if (allow && operation === AclOperation.DESCRIBE) {
      if (!IMPLIES_DESCRIBE.has(acl.operation)) return null;
    } else if (allow && operation === AclOperation.DESCRIBE_CONFIGS) {
      if (!IMPLIES_DESCRIBE_CONFIGS.has(acl.operation)) return null;
    } else if (operation !== acl.operation) {
      return null;
    }
  }
  return allow ? 'allow' : 'deny';
}

/** `super.users` as Kafka parses it: principals separated by semicolons. */
export function parseSuperUsers(value: string | null | undefined): string[] {
  if (!value) return [];
  return value
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
