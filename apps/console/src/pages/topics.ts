import { ConfigResource, KafkaError } from '@sluice/client';
import { html } from 'hono/html';
import type { ClusterView } from '../cluster.js';
import { bytes, type Html, ms, notice, page, seg } from '../layout.js';

/** How many topics the list shows at most (the search narrows it). */
export const MAX_LISTED_TOPICS = 1000;

/** Topics with partition count, size, retention; a search box and the create form. */
export async function topicsPage(cluster: ClusterView, search: string | null, flash: string | null): Promise<Html> {
  const snap = await cluster.snapshot();
  const needle = search?.toLowerCase() ?? null;
  const all = snap.topics.filter((t) => needle === null || t.name.toLowerCase().includes(needle));
  const topics = all.slice(0, MAX_LISTED_TOPICS);
  const sizes = await cluster.partitionSizes(snap.brokers).catch(() => null);
  const retention = await cluster
    .topicConfigValue(
      topics.map((t) => t.name),
      'retention.ms',
    )
    .catch(() => new Map<string, string | null>());
  const sizeOf = (name: string, count: number): bigint | null => {
    if (sizes === null) return null;
    let sum = 0n;
    for (let p = 0; p < count; p++) sum += sizes.get(`${name}\u0000${p}`) ?? 0n;
    return sum;
  };
  return page(
    'Topics',
    html`${flash ? notice(flash) : ''}
<form method="get" action="/topics"><input type="search" name="q" value="${search ?? ''}" placeholder="Search topics" maxlength="249" aria-label="Search topics"> <button>Search</button></form>
<table id="topics"><thead><tr><th>Topic</th><th>Partitions</th><th>Size</th><th>Retention</th><th>Internal</th></tr></thead><tbody>
${topics.map(
  (t) =>
    html`<tr><td><a href="/topics/${seg(t.name)}">${t.name}</a></td><td class="num">${t.partitions.length}</td><td class="num">${bytes(sizeOf(t.name, t.partitions.length))}</td><td class="num">${ms(retention.get(t.name))}</td><td>${t.isInternal ? 'yes' : ''}</td></tr>`,
)}
</tbody></table>
${all.length > topics.length ? html`<p class="muted">Showing ${topics.length} of ${all.length}: search to narrow.</p>` : ''}
${sizes === null ? html`<p class="muted">Sizes: the cluster does not answer DescribeLogDirs.</p>` : ''}
${search !== null && search !== '' && deletable(all).length > 0 ? deleteMatchingForm(search, deletable(all).length) : ''}
<h2>Create a topic</h2>
<form method="post" action="/topics" id="create-topic">
<label>Name <input name="name" required maxlength="249" pattern="[a-zA-Z0-9._\\-]+"></label>
<label>Partitions <input name="partitions" type="number" min="1" max="10000" placeholder="default"></label>
<label>Replication factor <input name="replicationFactor" type="number" min="1" max="32" placeholder="default"></label>
<br><label>Configs (key=value per line)<br><textarea name="configs" rows="3" cols="50" placeholder="retention.ms=86400000"></textarea></label>
<br><button>Create</button>
</form>`,
    { active: '/topics' },
  );
}

/** Topics a bulk delete may take: never internal ones. */
export function deletable(topics: ReadonlyArray<{ name: string; isInternal: boolean }>): string[] {
  return topics.filter((t) => !t.isInternal && !t.name.startsWith('__')).map((t) => t.name);
}

function deleteMatchingForm(search: string, count: number): Html {
  return html`<form method="post" action="/topics/delete-matching" id="delete-matching">
<input type="hidden" name="q" value="${search}">
<label>Delete the ${count} topic(s) matching “${search}”: type ${count} to confirm <input name="confirm" required maxlength="6" size="6"></label>
<button class="danger">Delete them</button></form>`;
}

/** A topic: partitions with leader, replicas, ISR, offsets and size; its configs; add partitions; delete. */
export async function topicPage(cluster: ClusterView, name: string, flash: string | null): Promise<Html> {
  const snap = await cluster.snapshot([name]);
  const t = cluster.topicIn(snap, name);
  const [offsets, sizes, configs] = await Promise.all([
    cluster.offsets(
      name,
      t.partitions.map((p) => p.partition),
    ),
    cluster.partitionSizes(snap.brokers, t).catch(() => null),
    cluster.configs(ConfigResource.TOPIC, name).catch((err: Error) => err),
  ]);
  return page(
    `Topic ${name}`,
    html`${flash ? notice(flash) : ''}
<p><a href="/topics/${seg(name)}/messages">Browse messages</a> · id <code>${t.topicId}</code>${t.isInternal ? ' · internal' : ''}</p>
<h2>Partitions (${t.partitions.length})</h2>
<table id="partitions"><thead><tr><th>Partition</th><th>Leader</th><th>Replicas</th><th>ISR</th><th>Start offset</th><th>End offset</th><th>Records</th><th>Size</th></tr></thead><tbody>
${t.partitions.map((p, i) => {
  const o = offsets[i];
  return html`<tr><td class="num"><a href="/topics/${seg(name)}/messages?partition=${p.partition}">${p.partition}</a></td><td class="num">${p.leader < 0 ? 'none' : p.leader}</td><td>${p.replicas.join(', ')}</td><td>${p.isr.join(', ')}</td><td class="num">${o.start}</td><td class="num">${o.end}</td><td class="num">${o.end - o.start}</td><td class="num">${bytes(sizes?.get(`${name}\u0000${p.partition}`) ?? (sizes === null ? null : 0n))}</td></tr>`;
})}
</tbody></table>
<form method="post" action="/topics/${seg(name)}/partitions" id="add-partitions">
<label>Grow to <input name="count" type="number" min="${t.partitions.length + 1}" max="10000" required> partitions</label> <button>Add partitions</button>
</form>
<h2>Configs</h2>
${
  configs instanceof Error
    ? html`<p class="muted">DescribeConfigs failed: ${configs instanceof KafkaError ? `${configs.errorName}: ` : ''}${configs.message}</p>`
    : html`<table id="configs"><thead><tr><th>Name</th><th>Value</th><th>Source</th><th>Default</th><th></th></tr></thead><tbody>
${configs.map(
  (c) =>
    html`<tr><td title="${c.documentation ?? ''}">${c.name}</td><td>${c.isSensitive ? '(sensitive)' : (c.value ?? 'null')}</td><td>${c.source}</td><td>${c.defaultValue ?? '—'}${c.defaultSource && c.defaultSource !== 'DEFAULT_CONFIG' ? html` <span class="muted">(${c.defaultSource})</span>` : ''}</td><td>${
      c.source === 'DYNAMIC_TOPIC_CONFIG'
        ? html`<form class="inline" method="post" action="/topics/${seg(name)}/configs"><input type="hidden" name="key" value="${c.name}"><input type="hidden" name="action" value="reset"><button>Reset to default</button></form>`
        : ''
    }</td></tr>`,
)}
</tbody></table>`
}
<form method="post" action="/topics/${seg(name)}/configs" id="set-config">
<label>Config <input name="key" required maxlength="255" list="config-names"></label>
<label>Value <input name="value" maxlength="4096"></label><input type="hidden" name="action" value="set"> <button>Set</button>
<datalist id="config-names">${configs instanceof Error ? '' : configs.map((c) => html`<option value="${c.name}">`)}</datalist>
</form>
<h2>Delete</h2>
<form method="post" action="/topics/${seg(name)}/delete" id="delete-topic">
<label>Type the topic's name to confirm <input name="confirm" required maxlength="249" autocomplete="off"></label> <button class="danger">Delete topic</button>
</form>`,
    { active: '/topics' },
  );
}
