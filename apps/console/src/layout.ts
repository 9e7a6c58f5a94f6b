// The page frame and small pieces every page uses. Built with Hono's `html` tag, which escapes
// every interpolated value: record contents, topic names and error messages cannot become markup.
import { AsyncLocalStorage } from 'node:async_hooks';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const NAV: ReadonlyArray<[string, string]> = [
  ['/', 'Overview'],
  ['/topics', 'Topics'],
  ['/groups', 'Consumer groups'],
  ['/live', 'Live'],
  ['/acls', 'ACLs'],
  ['/quotas', 'Quotas'],
];

/** Who the page is rendered for, when the console logs in per user (set around each request). */
export const viewer = new AsyncLocalStorage<{ username: string; mechanism: string }>();

export function page(
  title: string,
  body: Html,
  options: { head?: Html; active?: string /** No navigation (the login page). */; bare?: boolean } = {},
): Html {
  const who = viewer.getStore();
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Sluice console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/style.css">
<script src="/static/forms.js" defer></script>
${options.head ?? ''}
</head>
<body>
<header><strong>Sluice console</strong>
${options.bare ? '' : html`<nav>${NAV.map(([href, label]) => html`<a href="${href}"${options.active === href ? html` class="active"` : ''}>${label}</a>`)}</nav>`}
${who ? html`<form method="post" action="/logout" id="logout" class="who"><span data-testid="user">${who.username}</span> <span class="muted">(${who.mechanism})</span> <button>Log out</button></form>` : ''}
</header>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

/** A path segment for a name (topic or group) in a link. */
export function seg(name: string): string {
  return encodeURIComponent(name);
}

export function errorBox(kind: string, message: string): Html {
  return html`<div class="error" role="alert"><strong>${kind}</strong> ${message}</div>`;
}

export function notice(message: string): Html {
  return html`<div class="notice" role="status">${message}</div>`;
}

export function bytes(n: bigint | number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  const v = Number(n);
  if (v < 1024) return `${v} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(1)} ${units[i]}`;
}

export function ms(v: string | null | undefined): string {
  if (v === null || v === undefined) return '—';
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) return v;
  if (n % 86_400_000 === 0) return `${n / 86_400_000} d`;
  if (n % 3_600_000 === 0) return `${n / 3_600_000} h`;
  return `${n} ms`;
}

export const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{display:flex;gap:2em;align-items:center;background:#1d3557;color:#fff;padding:.6em 1.2em}
header nav a{color:#cfe;margin-right:1.2em;text-decoration:none}header nav a.active{color:#fff;font-weight:bold}
main{padding:1em 1.5em}h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.15em;margin-top:1.4em}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f1f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{margin:0;white-space:pre-wrap;word-break:break-all;max-width:60em;font-size:12px}
.error{background:#fde8e8;border:1px solid #e0a0a0;padding:.6em;margin:.6em 0}
.notice{background:#e8f6e8;border:1px solid #9c9;padding:.6em;margin:.6em 0}
.muted{color:#777}form.inline{display:inline}fieldset{margin:.6em 0;border:1px solid #ccc}
label{margin-right:1em}input,select,textarea{font:inherit}.danger{background:#c0392b;color:#fff;border:0;padding:.3em .8em}
.who{margin-left:auto}.who .muted{color:#cde}.login label{display:block;margin:.5em 0}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ccc;padding:.6em 1em;min-width:9em}.card b{display:block;font-size:1.5em}
`;

/**
 * Shows that a submitted form is being worked on (creating a topic or reading a page of records can
 * take seconds): its button is disabled (no double submit) and says so.
 */
export const FORMS_SCRIPT = `
'use strict';
document.addEventListener('submit', function (e) {
  var form = e.target;
  var button = form.querySelector('button');
  if (!button || form.dataset.busy) return;
  form.dataset.busy = '1';
  setTimeout(function () { button.disabled = true; button.textContent = form.method === 'get' ? 'Reading…' : 'Working…'; }, 0);
});
window.addEventListener('pageshow', function () {
  document.querySelectorAll('form[data-busy]').forEach(function (f) { delete f.dataset.busy; });
});
`;
