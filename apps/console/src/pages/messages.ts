import { html } from 'hono/html';
import { type BrowseQuery, type BrowseResult, MAX_LIMIT, MAX_SCANNED } from '../browse.js';
import type { TopicView } from '../cluster.js';
import { ENCODINGS, type Encoding, show } from '../format.js';
import { type Html, notice, page, seg } from '../layout.js';

export interface MessagesForm {
  from: 'beginning' | 'offset' | 'timestamp' | 'newest';
  offset: string;
  timestamp: string;
  encoding: Encoding;
}

function shown(buf: Buffer | null, encoding: Encoding): Html {
  const s = show(buf, encoding);
  return html`<pre>${s.text}</pre>${s.note ? html`<span class="muted">${s.note}</span>` : ''}`;
}

function nextLink(topic: string, q: BrowseQuery, form: MessagesForm, next: bigint): string {
  const p = new URLSearchParams({
    partition: String(q.partition),
    from: 'offset',
    offset: next.toString(),
    limit: String(q.limit),
    encoding: form.encoding,
    field: q.filterField,
  });
  if (q.filter) p.set('filter', q.filter);
  return `/topics/${seg(topic)}/messages?${p}`;
}

/** The browser's form, the page of records read (or nothing before the first search), and the produce form. */
export function messagesPage(
  t: TopicView,
  q: BrowseQuery,
  form: MessagesForm,
  result: BrowseResult | null,
  flash: string | null,
): Html {
  const sel = (on: boolean) => (on ? html` selected` : '');
  const stop =
    result?.stoppedBy === 'scan-bound'
      ? `Stopped after looking at ${MAX_SCANNED} records.`
      : result?.stoppedBy === 'deadline'
        ? 'Stopped at the time limit; the rest of the range was not read.'
        : null;
  return page(
    `Messages in ${t.name}`,
    html`${flash ? notice(flash) : ''}
<p><a href="/topics/${seg(t.name)}">Back to the topic</a></p>
<form method="get" action="/topics/${seg(t.name)}/messages" id="browse">
<label>Partition <select name="partition"><option value="">all</option>${t.partitions.map(
      (p) => html`<option value="${p.partition}"${sel(q.partition === p.partition)}>${p.partition}</option>`,
    )}</select></label>
<label>From <select name="from">
<option value="beginning"${sel(form.from === 'beginning')}>the beginning</option>
<option value="offset"${sel(form.from === 'offset')}>an offset</option>
<option value="timestamp"${sel(form.from === 'timestamp')}>a time</option>
<option value="newest"${sel(form.from === 'newest')}>the newest N</option>
</select></label>
<label>Offset <input name="offset" value="${form.offset}" inputmode="numeric" size="10" maxlength="19"></label>
<label>Time <input name="timestamp" value="${form.timestamp}" placeholder="2026-01-01T00:00:00Z" size="22" maxlength="40"></label>
<label>N / limit <input name="limit" type="number" min="1" max="${MAX_LIMIT}" value="${q.limit}"></label>
<br><label>Filter <input name="filter" value="${q.filter ?? ''}" maxlength="1024"></label>
<label>in <select name="field"><option value="any"${sel(q.filterField === 'any')}>key, value or headers</option><option value="key"${sel(q.filterField === 'key')}>key</option><option value="value"${sel(q.filterField === 'value')}>value</option></select></label>
<label>Show as <select name="encoding">${ENCODINGS.map((e) => html`<option value="${e}"${sel(form.encoding === e)}>${e}</option>`)}</select></label>
<input type="hidden" name="run" value="1"><button>Read</button>
</form>
${
  result === null
    ? ''
    : html`<p data-testid="browse-summary">${result.records.length} record(s) shown, ${result.scanned} read.${stop ? ` ${stop}` : ''}</p>
<table id="records"><thead><tr><th>Partition</th><th>Offset</th><th>Timestamp</th><th>Key</th><th>Value</th><th>Headers</th></tr></thead><tbody>
${result.records.map(
  (r) =>
    html`<tr><td class="num">${r.partition}</td><td class="num">${r.offset}</td><td>${new Date(Number(r.timestamp)).toISOString()}</td><td>${shown(r.key, form.encoding)}</td><td>${shown(r.value, form.encoding)}</td><td>${r.headers.map(
      ([k, v]) => html`<div><b>${k}</b>: ${shown(v, form.encoding === 'json' ? 'text' : form.encoding)}</div>`,
    )}</td></tr>`,
)}
</tbody></table>
${result.nextOffset !== null ? html`<p><a href="${nextLink(t.name, q, form, result.nextOffset)}" id="next-page">Next page</a></p>` : ''}`
}
<h2>Produce a test record</h2>
<form method="post" action="/topics/${seg(t.name)}/produce" id="produce">
<label>Partition <select name="partition"><option value="">by key</option>${t.partitions.map(
      (p) => html`<option value="${p.partition}">${p.partition}</option>`,
    )}</select></label>
<label>Key <input name="key" maxlength="4096"></label>
<br><label>Value<br><textarea name="value" rows="4" cols="60"></textarea></label>
<br><label>Headers (key=value per line)<br><textarea name="headers" rows="2" cols="60"></textarea></label>
<br><button>Produce</button>
</form>`,
    { active: '/topics' },
  );
}
