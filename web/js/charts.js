// Inline SVG charts from the box's own numbers: stacked bars per hour, a delivery gauge.

import { h, svg } from './ui.js';

export const COLORS = ['var(--c1)', 'var(--c2)', 'var(--c3)', 'var(--c4)', 'var(--c5)', 'var(--c6)'];

/** Stacked bars: one bar per hour, one colour per series. */
export function stackedBars(hours, series, label) {
  const W = 440, H = 170, L = 30, B = 22, T = 10, R = 6;
  const n = hours.length;
  const totals = hours.map((_, i) => series.reduce((s, x) => s + (x.values[i] || 0), 0));
  const max = Math.max(1, ...totals);
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const bw = (W - L - R) / n;
  const parts = [];
  for (let v = 0; v <= top; v += step) {
    parts.push(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'axis', 'stroke-dasharray': v ? '2 3' : null }));
    parts.push(svg('text', { x: L - 4, y: y(v) + 3, 'text-anchor': 'end' }, String(v)));
  }
  hours.forEach((hour, i) => {
    let base = 0;
    const x = L + i * bw + bw * 0.15;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (!v) return;
      const rect = svg('rect', {
        x, width: Math.max(1, bw * 0.7), y: y(base + v), height: Math.max(0.5, y(base) - y(base + v)),
        fill: s.color || COLORS[k % COLORS.length], rx: 1.5,
      }, svg('title', {}, `${s.name}: ${v} at ${new Date(hour).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`));
      parts.push(rect);
      base += v;
    });
    if ((n - 1 - i) % Math.ceil(n / 8) === 0) { // the latest hour always labelled
      parts.push(svg('text', { x: L + i * bw + bw / 2, y: H - 5, 'text-anchor': 'middle' },
        new Date(hour).toLocaleTimeString([], { hour: '2-digit' })));
    }
  });
  const total = totals.reduce((a, b) => a + b, 0);
  return h('figure', { class: 'chart', style: 'margin:0' },
    svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}: ${total} in the last ${n} hours` }, parts),
    h('figcaption', { class: 'legend' },
      series.length === 0 ? h('span', {}, 'No traffic yet') : series.map((s, k) =>
        h('span', {}, h('i', { style: `background:${s.color || COLORS[k % COLORS.length]}` }),
          `${s.name} (${s.values.reduce((a, b) => a + b, 0)})`))));
}

function niceStep(max) {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
  return Math.max(1, 10 * mag);
}

/** A ring showing the delivered share of the jobs with an outcome. */
export function gauge(rate, caption) {
  const r = 42, c = 2 * Math.PI * r;
  const pct = rate === null || rate === undefined ? null : Math.round(rate * 100);
  const frac = pct === null ? 0 : rate;
  return h('figure', { class: 'chart', style: 'margin:0;max-width:150px' },
    svg('svg', { viewBox: '0 0 100 100', role: 'img', 'aria-label': pct === null ? `${caption}: no outcome yet` : `${caption}: ${pct}%` },
      svg('circle', { cx: 50, cy: 50, r, fill: 'none', stroke: 'var(--panel-2)', 'stroke-width': 10 }),
      frac > 0 && svg('circle', {
        cx: 50, cy: 50, r, fill: 'none', stroke: frac >= 0.9 ? 'var(--ok)' : frac >= 0.6 ? 'var(--warn)' : 'var(--bad)',
        'stroke-width': 10, 'stroke-dasharray': `${c * frac} ${c}`, transform: 'rotate(-90 50 50)', 'stroke-linecap': 'round',
      }),
      svg('text', { x: 50, y: 55, 'text-anchor': 'middle', style: 'font-size:18px;font-weight:700;fill:var(--text)' }, pct === null ? '—' : `${pct}%`)),
    h('figcaption', { class: 'legend', style: 'justify-content:center' }, caption));
}

/** Signal strength as 0–4 bars. */
export function bars(n) {
  const k = Math.max(0, Math.min(4, n | 0));
  return h('span', { class: 'signal', 'aria-hidden': 'true' },
    [1, 2, 3, 4].map((i) => h('i', { class: i <= k ? 'on' : '', style: `height:${4 + i * 3}px` })));
}
