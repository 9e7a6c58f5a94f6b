// A small SVG writer for grouped horizontal bar charts: one row per scenario, one bar per broker
// (the median), a whisker over the trials' min–max, and the value printed after the bar.
import type { Summary } from './stats.js';
import { fmt } from './stats.js';

export interface BarRow {
  label: string;
  bars: Array<{ series: string; value: Summary | undefined }>;
}

export interface BarChart {
  title: string;
  unit: string;
  rows: readonly BarRow[];
  /** Colour per series name. */
  colors: Record<string, string>;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Round the axis maximum up to 1, 2 or 5 × 10^k. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

export function barChart(c: BarChart): string {
  const labelW = 250;
  const plotW = 520;
  const valueW = 80;
  const barH = 12;
  const gap = 10;
  const top = 48;
  const series = Object.keys(c.colors);
  const rowH = series.length * barH + gap;
  const height = top + c.rows.length * rowH + 34;
  const width = labelW + plotW + valueW + 20;
  let max = 0;
  for (const r of c.rows) for (const b of r.bars) if (b.value) max = Math.max(max, b.value.max, b.value.median);
  const axis = niceMax(max);
  const x = (v: number) => labelW + (v / axis) * plotW;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="10" y="18" font-size="14" font-weight="bold">${esc(c.title)}</text>`);
  // Legend
  series.forEach((s, i) => {
    const lx = labelW + i * 110;
    out.push(`<rect x="${lx}" y="28" width="12" height="10" fill="${c.colors[s]}"/>`);
    out.push(`<text x="${lx + 16}" y="37">${esc(s)}</text>`);
  });
  // Grid
  for (let i = 0; i <= 5; i++) {
    const v = (axis * i) / 5;
    const gx = x(v);
    out.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${height - 30}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${height - 16}" text-anchor="middle" fill="#555">${fmt(v)}</text>`);
  }
  out.push(`<text x="${labelW + plotW / 2}" y="${height - 3}" text-anchor="middle" fill="#555">${esc(c.unit)}</text>`);
  c.rows.forEach((r, i) => {
    const y0 = top + i * rowH;
    out.push(
      `<text x="${labelW - 6}" y="${y0 + (series.length * barH) / 2 + 4}" text-anchor="end">${esc(r.label)}</text>`,
    );
    series.forEach((s, j) => {
      const b = r.bars.find((b) => b.series === s)?.value;
      const y = y0 + j * barH;
      if (!b) {
        out.push(`<text x="${labelW + 4}" y="${y + barH - 2}" fill="#999">n/a</text>`);
        return;
      }
      out.push(
        `<rect x="${labelW}" y="${y + 1}" width="${Math.max(0.5, x(b.median) - labelW)}" height="${barH - 2}" fill="${c.colors[s]}"/>`,
      );
      if (b.n > 1) {
        const cy = y + barH / 2;
        out.push(`<line x1="${x(b.min)}" y1="${cy}" x2="${x(b.max)}" y2="${cy}" stroke="#222"/>`);
        out.push(`<line x1="${x(b.min)}" y1="${cy - 3}" x2="${x(b.min)}" y2="${cy + 3}" stroke="#222"/>`);
        out.push(`<line x1="${x(b.max)}" y1="${cy - 3}" x2="${x(b.max)}" y2="${cy + 3}" stroke="#222"/>`);
      }
      out.push(
        `<text x="${Math.max(x(b.median), x(b.max)) + 4}" y="${y + barH - 2}" fill="#333">${fmt(b.median)}</text>`,
      );
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
