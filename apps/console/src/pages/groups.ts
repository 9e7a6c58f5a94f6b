import { html } from 'hono/html';
import type { ClusterView } from '../cluster.js';
import { type Html, notice, page, seg } from '../layout.js';

export async function groupsPage(cluster: ClusterView, flash: string | null): Promise<Html> {
  const groups = await cluster.admin.listGroups();
  return page(
    'Consumer groups',
    html`${flash ? notice(flash) : ''}
<table id="groups"><thead><tr><th>Group</th><th>State</th><th>Protocol type</th></tr></thead><tbody>
${groups.map(
  (g) =>
    html`<tr><td><a href="/groups/${seg(g.groupId)}">${g.groupId}</a></td><td>${g.state || '—'}</td><td>${g.protocolType || '—'}</td></tr>`,
)}
</tbody></table>
${groups.length === 0 ? html`<p class="muted">No groups.</p>` : ''}`,
    { active: '/groups' },
  );
}

export interface LagRow {
  topic: string;
  partition: number;
  committed: bigint | null;
  end: bigint | null;
  lag: bigint | null;
  owner: string | null;
}

/** Every partition the group has a commit for or a member owns, with the lag behind the log end. */
export async function groupLag(cluster: ClusterView, groupId: string) {
  const desc = await cluster.admin.describeGroup(groupId);
  const committed = await cluster.admin.fetchGroupOffsets(groupId);
  const key = (t: string, p: number) => `${t}\u0000${p}`;
  const rows = new Map<string, LagRow>();
  for (const c of committed) {
    rows.set(key(c.topic, c.partition), {
      topic: c.topic,
      partition: c.partition,
      committed: c.offset,
      end: null,
      lag: null,
      owner: null,
    });
  }
  for (const m of desc.members) {
    for (const tp of m.assignment) {
      const k = key(tp.topic, tp.partition);
      const row = rows.get(k) ?? { ...tp, committed: null, end: null, lag: null, owner: null };
      row.owner = m.memberId;
      rows.set(k, row);
    }
  }
  const list = [...rows.values()].sort((a, b) =>
    a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
  );
  if (list.length > 0) {
    const ends = await cluster.admin.listOffsets(
      list.map((r) => ({ topic: r.topic, partition: r.partition })),
      'latest',
    );
    list.forEach((r, i) => {
      r.end = ends[i].offset >= 0n ? ends[i].offset : null;
      if (r.end !== null && r.committed !== null) r.lag = r.end > r.committed ? r.end - r.committed : 0n;
    });
  }
  const total = list.reduce((s, r) => s + (r.lag ?? 0n), 0n);
  return { desc, rows: list, total };
}

export async function groupPage(cluster: ClusterView, groupId: string, flash: string | null): Promise<Html> {
  const { desc, rows, total } = await groupLag(cluster, groupId);
  const topics = [...new Set(rows.map((r) => r.topic))];
  return page(
    `Group ${groupId}`,
    html`${flash ? notice(flash) : ''}
<div class="cards">
<div class="card">State<b data-testid="group-state">${desc.state || '—'}</b></div>
<div class="card">Members<b data-testid="member-count">${desc.members.length}</b></div>
<div class="card">Total lag<b data-testid="total-lag">${total}</b></div>
</div>
<p>Protocol type <code>${desc.protocolType || '—'}</code> · assignor <code>${desc.protocol || '—'}</code></p>
<h2>Members</h2>
${
  desc.members.length === 0
    ? html`<p class="muted">No active members.</p>`
    : html`<table id="members"><thead><tr><th>Member</th><th>Client id</th><th>Host</th><th>Instance id</th><th>Assignment</th></tr></thead><tbody>
${desc.members
  .slice(0, 1000)
  .map(
    (m) =>
      html`<tr><td>${m.memberId}</td><td>${m.clientId}</td><td>${m.clientHost}</td><td>${m.groupInstanceId ?? '—'}</td><td>${m.assignment.map((a) => `${a.topic}-${a.partition}`).join(', ')}</td></tr>`,
  )}</tbody></table>`
}
<h2>Offsets and lag</h2>
<table id="lag"><thead><tr><th>Topic</th><th>Partition</th><th>Committed</th><th>Log end</th><th>Lag</th><th>Owner</th></tr></thead><tbody>
${rows.map(
  (r) =>
    html`<tr><td><a href="/topics/${seg(r.topic)}">${r.topic}</a></td><td class="num">${r.partition}</td><td class="num">${r.committed ?? '—'}</td><td class="num">${r.end ?? '—'}</td><td class="num">${r.lag ?? '—'}</td><td>${r.owner ?? '—'}</td></tr>`,
)}
<tr><th colspan="4">Total</th><th class="num">${total}</th><th></th></tr>
</tbody></table>
<h2>Reset offsets</h2>
<p class="muted">Kafka accepts a reset only while the group has no members. The first step shows the new offsets without changing anything.</p>
<form method="post" action="/groups/${seg(groupId)}/reset" id="reset-offsets">
<label>Topic <input name="topic" required maxlength="249" list="group-topics" value="${topics[0] ?? ''}"></label>
<datalist id="group-topics">${topics.map((t) => html`<option value="${t}">`)}</datalist>
<label>Partition <input name="partition" type="number" min="0" placeholder="all"></label>
<label>To <select name="to"><option value="earliest">earliest</option><option value="latest">latest</option><option value="offset">offset</option><option value="timestamp">time</option></select></label>
<label>Offset or time <input name="value" maxlength="40"></label>
<button>Preview</button>
</form>
<h2>Delete</h2>
<form method="post" action="/groups/${seg(groupId)}/delete" id="delete-group">
<label>Type the group id to confirm <input name="confirm" required maxlength="255" autocomplete="off"></label> <button class="danger">Delete group</button>
</form>`,
    { active: '/groups' },
  );
}

export interface ResetPlan {
  groupId: string;
  topic: string;
  partition: number | null;
  to: 'earliest' | 'latest' | 'offset' | 'timestamp';
  value: string;
  rows: Array<{ partition: number; current: bigint | null; next: bigint }>;
}

export function resetPreviewPage(plan: ResetPlan, blockedBy: number): Html {
  return page(
    `Reset offsets of ${plan.groupId}`,
    html`<p>Dry run: nothing has changed yet.</p>
<table id="reset-preview"><thead><tr><th>Topic</th><th>Partition</th><th>Current</th><th>New</th></tr></thead><tbody>
${plan.rows.map(
  (r) =>
    html`<tr><td>${plan.topic}</td><td class="num">${r.partition}</td><td class="num">${r.current ?? '—'}</td><td class="num">${r.next}</td></tr>`,
)}
</tbody></table>
${
  blockedBy > 0
    ? html`<div class="error" role="alert">The group has ${blockedBy} active member(s): stop them before resetting.</div>`
    : html`<form method="post" action="/groups/${seg(plan.groupId)}/reset" id="reset-execute">
<input type="hidden" name="topic" value="${plan.topic}"><input type="hidden" name="partition" value="${plan.partition ?? ''}">
<input type="hidden" name="to" value="${plan.to}"><input type="hidden" name="value" value="${plan.value}">
<input type="hidden" name="execute" value="1"><button class="danger">Execute the reset</button></form>`
}
<p><a href="/groups/${seg(plan.groupId)}">Cancel</a></p>`,
    { active: '/groups' },
  );
}
