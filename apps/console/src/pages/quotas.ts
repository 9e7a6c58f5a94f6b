// The client quota page: every quota entity with its values (DescribeClientQuotas), a form that sets
// or removes one key of an entity (AlterClientQuotas), and a remove button per value.
import { ERROR_CODES, KafkaError } from '@sluice/client';
import { html } from 'hono/html';
import type { ClusterView } from '../cluster.js';
import { type Html, notice, page } from '../layout.js';
import { InputError } from '../validate.js';

/** A quota entity as the page lists it (components in the broker's order; a null name is the default). */
export interface ClientQuotaEntry {
  entity: Array<{ entityType: string; entityName: string | null }>;
  values: Record<string, number>;
}

/** Kafka's client quota keys (QuotaConfig). */
export const QUOTA_KEYS = [
  'producer_byte_rate',
  'consumer_byte_rate',
  'request_percentage',
  'controller_mutation_rate',
  'connection_creation_rate',
] as const;

/** How a default entity (a null name) is written in the form and shown, as kafka-configs names it. */
const DEFAULT = '<default>';
const ENTITY_FIELDS: ReadonlyArray<[string, string]> = [
  ['user', 'user'],
  ['clientId', 'client-id'],
  ['ip', 'ip'],
];

export interface QuotaChange {
  entity: ClientQuotaEntry['entity'];
  key: string;
  /** null: remove the key. */
  value: number | null;
}

/** The entity, key and value from the form (an empty value removes the key). */
export function quotaFromForm(f: Record<string, string>): QuotaChange {
  const entity: QuotaChange['entity'] = [];
  for (const [field, entityType] of ENTITY_FIELDS) {
    const v = (f[field] ?? '').trim();
    if (v === '') continue;
    if (v.length > 255) throw new InputError(`${entityType}: at most 255 characters`);
    entity.push({ entityType, entityName: v === DEFAULT ? null : v });
  }
  if (entity.length === 0) throw new InputError(`name a user, a client-id or an ip (${DEFAULT} for the default)`);
  const key = f.key ?? '';
  if (!(QUOTA_KEYS as readonly string[]).includes(key)) throw new InputError(`quota: one of ${QUOTA_KEYS.join(', ')}`);
  const raw = (f.value ?? '').trim();
  if (raw === '') return { entity, key, value: null };
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value)) throw new InputError('value: a number ≥ 0');
  return { entity, key, value };
}

export function entityText(entity: ClientQuotaEntry['entity']): string {
  return entity.map((e) => `${e.entityType}=${e.entityName ?? DEFAULT}`).join(', ');
}

export async function quotasPage(cluster: ClusterView, flash: string | null): Promise<Html> {
  let entries: ClientQuotaEntry[];
  try {
    entries = (await cluster.admin.describeClientQuotas()).map((e) => ({
      entity: Object.entries(e.entity).map(([entityType, entityName]) => ({ entityType, entityName })),
      values: e.values,
    }));
  } catch (err) {
    if (err instanceof KafkaError && err.code === ERROR_CODES.UNSUPPORTED_VERSION) {
      return page(
        'Client quotas',
        html`<p id="quotas-missing" class="muted">This cluster does not serve DescribeClientQuotas (UNSUPPORTED_VERSION).</p>`,
        { active: '/quotas' },
      );
    }
    throw err;
  }
  entries.sort((a, b) => (entityText(a.entity) < entityText(b.entity) ? -1 : 1));
  const fieldOf = (entityType: string) => ENTITY_FIELDS.find(([, t]) => t === entityType)?.[0] ?? entityType;
  const removeForm = (
    e: ClientQuotaEntry,
    key: string,
  ) => html`<form method="post" action="/quotas" class="quota-remove">
${e.entity.map((x) => html`<input type="hidden" name="${fieldOf(x.entityType)}" value="${x.entityName ?? DEFAULT}">`)}
<input type="hidden" name="key" value="${key}"><input type="hidden" name="value" value=""><button class="danger">Remove</button></form>`;
  return page(
    'Client quotas',
    html`${flash ? notice(flash) : ''}
<table id="quotas"><thead><tr><th>Entity</th><th>Quota</th><th>Value</th><th></th></tr></thead><tbody>
${entries.flatMap((e) =>
  Object.entries(e.values).map(
    ([key, value]) =>
      html`<tr><td>${entityText(e.entity)}</td><td>${key}</td><td>${String(value)}</td><td>${removeForm(e, key)}</td></tr>`,
  ),
)}
</tbody></table>
${entries.length === 0 ? html`<p class="muted">No client quotas.</p>` : ''}
<h2>Set a quota</h2>
<p class="muted">Name a user, a client-id (alone or with a user) or an ip; <code>${DEFAULT}</code> is the type's default. An empty value removes the quota.</p>
<form method="post" action="/quotas" id="set-quota">
<label>User <input name="user" maxlength="255"></label>
<label>Client id <input name="clientId" maxlength="255"></label>
<label>IP <input name="ip" maxlength="255"></label>
<label>Quota <select name="key">${QUOTA_KEYS.map((k) => html`<option value="${k}">${k}</option>`)}</select></label>
<label>Value <input name="value" inputmode="decimal" maxlength="20"></label>
<button>Set</button>
</form>`,
    { active: '/quotas' },
  );
}
