// The ACL page: every binding the cluster has (DescribeAcls with a match-all filter), a form to create
// one (CreateAcls) and a delete button per binding (DeleteAcls with the binding as an exact filter).
// A cluster without an authorizer answers SECURITY_DISABLED: the page says so instead of failing.
import { ERROR_CODES, KafkaError } from '@sluice/client';
import { AclOperation, AclPermissionType, PatternType, ResourceType } from '@sluice/security';
import { html } from 'hono/html';
import type { ClusterView } from '../cluster.js';
import { type Html, notice, page } from '../layout.js';
import { InputError } from '../validate.js';

// Kafka's wire codes (ResourceType, PatternType, AclOperation, AclPermissionType) as @sluice/security
// defines them, by their names as kafka-acls prints them; the codes only a filter may hold (ANY, MATCH)
// and UNKNOWN are not offered in the form.
const FILTER_ONLY = new Set(['UNKNOWN', 'ANY', 'MATCH']);
const bindingCodes = (all: Readonly<Record<string, number>>): Record<string, number> =>
  Object.fromEntries(Object.entries(all).filter(([name]) => !FILTER_ONLY.has(name)));
export const RESOURCE_TYPES = bindingCodes(ResourceType);
export const PATTERN_TYPES = bindingCodes(PatternType);
export const OPERATIONS = bindingCodes(AclOperation);
export const PERMISSIONS = bindingCodes(AclPermissionType);

function nameOf(table: Record<string, number>, code: number): string {
  return Object.entries(table).find(([, c]) => c === code)?.[0] ?? `UNKNOWN(${code})`;
}

export interface AclForm {
  resourceType: number;
  resourceName: string;
  patternType: number;
  principal: string;
  host: string;
  operation: number;
  permissionType: number;
}

function pick(table: Record<string, number>, v: string | undefined, what: string): number {
  const code = v === undefined ? undefined : table[v];
  if (code === undefined) throw new InputError(`${what}: one of ${Object.keys(table).join(', ')}`);
  return code;
}

/** A binding from the create or delete form, each field checked (Kafka's own checks follow at the broker). */
export function aclFromForm(f: Record<string, string>): AclForm {
  const resourceType = pick(RESOURCE_TYPES, f.resourceType, 'resource type');
  const resourceName = (f.resourceName ?? '').trim();
  if (resourceName.length < 1 || resourceName.length > 255) throw new InputError('resource name: 1–255 characters');
  const principal = (f.principal ?? '').trim();
  if (!/^[A-Za-z]+:.{1,255}$/.test(principal)) throw new InputError('principal: Type:name, e.g. User:alice or User:*');
  const host = (f.host ?? '*').trim() || '*';
  if (host.length > 255) throw new InputError('host: an IP address or *');
  return {
    resourceType,
    resourceName,
    patternType: pick(PATTERN_TYPES, f.patternType, 'pattern type'),
    principal,
    host,
    operation: pick(OPERATIONS, f.operation, 'operation'),
    permissionType: pick(PERMISSIONS, f.permissionType, 'permission'),
  };
}

function options(table: Record<string, number>, selected?: string): Html[] {
  return Object.keys(table).map(
    (k) => html`<option value="${k}"${k === selected ? html` selected` : ''}>${k}</option>`,
  );
}

export async function aclsPage(cluster: ClusterView, flash: string | null): Promise<Html> {
  let acls: Awaited<ReturnType<ClusterView['admin']['describeAcls']>>;
  try {
    acls = await cluster.admin.describeAcls({
      resourceType: ResourceType.ANY,
      resourceName: null,
      patternType: PatternType.ANY,
      principal: null,
      host: null,
      operation: AclOperation.ANY,
      permissionType: AclPermissionType.ANY,
    });
  } catch (err) {
    if (err instanceof KafkaError && err.code === ERROR_CODES.SECURITY_DISABLED) {
      return page(
        'ACLs',
        html`${flash ? notice(flash) : ''}<p id="acls-disabled" class="muted">This cluster has no authorizer
(DescribeAcls answered SECURITY_DISABLED): ACLs are not checked, so there are none to show or edit.
Set <code>authorizer.class.name</code> on the brokers to use them.</p>`,
        { active: '/acls' },
      );
    }
    throw err;
  }
  acls.sort((a, b) =>
    a.resourceType !== b.resourceType
      ? a.resourceType - b.resourceType
      : a.resourceName < b.resourceName
        ? -1
        : a.resourceName > b.resourceName
          ? 1
          : a.principal < b.principal
            ? -1
            : 1,
  );
  const hidden = (name: string, value: string) => html`<input type="hidden" name="${name}" value="${value}">`;
  return page(
    'ACLs',
    html`${flash ? notice(flash) : ''}
<table id="acls"><thead><tr><th>Resource type</th><th>Name</th><th>Pattern</th><th>Principal</th><th>Host</th><th>Operation</th><th>Permission</th><th></th></tr></thead><tbody>
${acls.map((a) => {
  const cells = {
    resourceType: nameOf(RESOURCE_TYPES, a.resourceType),
    patternType: nameOf(PATTERN_TYPES, a.patternType),
    operation: nameOf(OPERATIONS, a.operation),
    permissionType: nameOf(PERMISSIONS, a.permissionType),
  };
  return html`<tr><td>${cells.resourceType}</td><td>${a.resourceName}</td><td>${cells.patternType}</td><td>${a.principal}</td><td>${a.host}</td><td>${cells.operation}</td><td>${cells.permissionType}</td>
<td><form method="post" action="/acls/delete" class="acl-delete">${hidden('resourceType', cells.resourceType)}${hidden('resourceName', a.resourceName)}${hidden('patternType', cells.patternType)}${hidden('principal', a.principal)}${hidden('host', a.host)}${hidden('operation', cells.operation)}${hidden('permissionType', cells.permissionType)}<button class="danger">Delete</button></form></td></tr>`;
})}
</tbody></table>
${acls.length === 0 ? html`<p class="muted">No ACLs.</p>` : ''}
<h2>Add an ACL</h2>
<form method="post" action="/acls" id="create-acl">
<label>Resource type <select name="resourceType">${options(RESOURCE_TYPES, 'TOPIC')}</select></label>
<label>Name <input name="resourceName" required maxlength="255" placeholder="orders, or kafka-cluster"></label>
<label>Pattern <select name="patternType">${options(PATTERN_TYPES, 'LITERAL')}</select></label>
<label>Principal <input name="principal" required maxlength="260" placeholder="User:alice"></label>
<label>Host <input name="host" value="*" maxlength="255"></label>
<label>Operation <select name="operation">${options(OPERATIONS, 'READ')}</select></label>
<label>Permission <select name="permissionType">${options(PERMISSIONS, 'ALLOW')}</select></label>
<button>Add</button>
</form>`,
    { active: '/acls' },
  );
}
