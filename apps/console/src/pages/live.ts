import { html } from 'hono/html';
import { type Html, page } from '../layout.js';

/** Charts drawn by uPlot (served from its npm package) from /api/counters, read every 2 s by /static/live.js. */
export function livePage(): Html {
  return page(
    'Live',
    html`<p id="live-source" class="muted">Reading counters…</p>
<h2 id="throughput-title">Bytes per second</h2><div id="chart-bytes"></div>
<h2 id="rate-title">Requests per second</h2><div id="chart-requests"></div>
<p id="live-error" class="error" hidden></p>
<script src="/static/uPlot.iife.min.js"></script>
<script src="/static/live.js"></script>`,
    { active: '/live', head: html`<link rel="stylesheet" href="/static/uPlot.min.css">` },
  );
}

/**
 * The live page's script. Turns successive counter readings into per-second rates; keeps the last
 * MAX_POINTS; stops polling while the tab is hidden.
 */
export const LIVE_SCRIPT = `
'use strict';
(function () {
  var MAX_POINTS = 60, INTERVAL_MS = 2000;
  var prev = null, xs = [], a = [], b = [], r = [], charts = null;
  var err = document.getElementById('live-error');
  function rate(now, before, dt) { return now === null || before === null ? null : Math.max(0, (now - before) / dt); }
  function make(el, title, labels) {
    // The last two minutes, whatever the number of points (one point alone would span years).
    var opts = { width: Math.min(900, window.innerWidth - 60), height: 240, title: title,
      scales: { x: { time: true, range: function (u, min, max) { return [max - 120, max]; } } },
      axes: [{}, { size: 80 }],
      series: [{}].concat(labels.map(function (l, i) { return { label: l, stroke: ['#1d3557', '#e63946'][i] }; })) };
    return new uPlot(opts, [[]].concat(labels.map(function () { return []; })), el);
  }
  function tick() {
    if (document.hidden) return;
    fetch('/api/counters').then(function (res) {
      return res.json().then(function (body) { if (!res.ok) throw new Error(body.error || res.statusText); return body; });
    }).then(function (c) {
      err.hidden = true;
      if (charts === null) {
        var offsets = c.source === 'offsets';
        document.getElementById('live-source').textContent = offsets
          ? 'From end offsets sampled every 2 s (no broker metrics endpoint): records per second.'
          : 'From the brokers\\' Prometheus metrics, every 2 s.';
        document.getElementById('throughput-title').textContent = offsets ? 'Records per second' : 'Bytes per second';
        document.getElementById('rate-title').hidden = offsets;
        charts = {
          bytes: make(document.getElementById('chart-bytes'), offsets ? 'records/s' : 'bytes/s', offsets ? ['records in'] : ['in', 'out']),
          requests: offsets ? null : make(document.getElementById('chart-requests'), 'requests/s', ['requests'])
        };
      }
      if (prev !== null) {
        var dt = (c.at - prev.at) / 1000;
        if (dt > 0) {
          xs.push(c.at / 1000);
          if (c.source === 'offsets') { a.push(rate(c.records, prev.records, dt)); }
          else { a.push(rate(c.bytesIn, prev.bytesIn, dt)); b.push(rate(c.bytesOut, prev.bytesOut, dt)); r.push(rate(c.requests, prev.requests, dt)); }
          [xs, a, b, r].forEach(function (s) { if (s.length > MAX_POINTS) s.shift(); });
          charts.bytes.setData(c.source === 'offsets' ? [xs, a] : [xs, a, b]);
          if (charts.requests) charts.requests.setData([xs, r]);
          document.body.dataset.samples = String(xs.length);
        }
      }
      prev = c;
    }).catch(function (e) { err.hidden = false; err.textContent = 'Counters: ' + e.message; });
  }
  tick();
  setInterval(tick, INTERVAL_MS);
})();
`;
