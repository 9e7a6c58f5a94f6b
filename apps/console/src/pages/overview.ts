import { html } from 'hono/html';
import type { ClusterView } from '../cluster.js';
import { type Html, notice, page } from '../layout.js';

/** Brokers, controller, topic and partition counts, partitions without a leader or short of replicas, version. */
export async function overviewPage(cluster: ClusterView): Promise<Html> {
  const [snap, versions] = await Promise.all([cluster.snapshot(), cluster.apiVersions().catch(() => null)]);
  const partitions = snap.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p })));
  const offline = partitions.filter((p) => p.leader < 0);
  const underReplicated = partitions.filter((p) => p.leader >= 0 && p.isr.length < p.replicas.length);
  const metadataVersion = versions?.features.find((f) => f.name === 'metadata.version');
  return page(
    'Cluster overview',
    html`<div class="cards">
<div class="card">Brokers<b data-testid="broker-count">${snap.brokers.length}</b></div>
<div class="card">Controller<b data-testid="controller">${snap.controllerId >= 0 ? snap.controllerId : '—'}</b></div>
<div class="card">Topics<b data-testid="topic-count">${snap.topics.filter((t) => !t.isInternal).length}</b><span class="muted">${snap.topics.filter((t) => t.isInternal).length} internal</span></div>
<div class="card">Partitions<b data-testid="partition-count">${partitions.length}</b></div>
<div class="card">Under-replicated<b data-testid="under-replicated">${underReplicated.length}</b></div>
<div class="card">Offline<b data-testid="offline">${offline.length}</b></div>
</div>
<p>Cluster id <code data-testid="cluster-id">${snap.clusterId ?? '—'}</code>${
      metadataVersion ? html` · metadata.version level <code>${metadataVersion.level}</code>` : ''
    }</p>
<h2>Brokers</h2>
<table><thead><tr><th>Id</th><th>Host</th><th>Port</th><th>Rack</th><th>Role</th></tr></thead><tbody>
${snap.brokers.map(
  (b) =>
    html`<tr><td class="num">${b.nodeId}</td><td>${b.host}</td><td class="num">${b.port}</td><td>${b.rack ?? '—'}</td><td>${b.nodeId === snap.controllerId ? 'controller' : ''}</td></tr>`,
)}
</tbody></table>
${
  offline.length + underReplicated.length > 0
    ? html`<h2>Partitions needing attention</h2><table><thead><tr><th>Topic</th><th>Partition</th><th>Leader</th><th>Replicas</th><th>ISR</th></tr></thead><tbody>
${[...offline, ...underReplicated]
  .slice(0, 200)
  .map(
    (p) =>
      html`<tr><td>${p.topic}</td><td class="num">${p.partition}</td><td>${p.leader < 0 ? 'none' : p.leader}</td><td>${p.replicas.join(', ')}</td><td>${p.isr.join(', ')}</td></tr>`,
  )}</tbody></table>`
    : notice('Every partition has a leader and its full ISR.')
}
<h2>Protocol</h2>
${
  versions === null
    ? html`<p class="muted">ApiVersions did not answer.</p>`
    : html`<details><summary>${versions.apis.length} APIs announced by the bootstrap broker</summary>
<table><thead><tr><th>Key</th><th>API</th><th>Versions</th></tr></thead><tbody>
${versions.apis.map((a) => html`<tr><td class="num">${a.apiKey}</td><td>${a.name}</td><td>${a.minVersion}–${a.maxVersion}</td></tr>`)}
</tbody></table></details>`
}`,
    { active: '/' },
  );
}
