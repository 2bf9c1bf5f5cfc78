// Every modem and SIM at a glance, and throughput drawn from the box's own data.

import { api } from '../api.js';
import { bars, gauge, stackedBars } from '../charts.js';
import { clear, debounce, empty, errorBox, h, loading, pill, statusKind } from '../ui.js';

const REG = { 0: 'not searching', 1: 'home network', 2: 'searching', 3: 'denied', 4: 'unknown', 5: 'roaming' };

function label(state) { return String(state || 'unknown').replace(/_/g, ' '); }

function modemCard(m) {
  const used = m.sim_used, total = m.sim_total;
  const pct = total ? Math.round((100 * (used || 0)) / total) : null;
  const reg = m.registration === null || m.registration === undefined ? '—' : (REG[m.registration] || `state ${m.registration}`);
  return h('article', { class: 'modem-card', dataset: { modem: m.name, number: m.number || '' }, 'aria-label': `Modem ${m.name}` },
    h('header', {},
      h('div', {},
        h('div', { class: 'number' }, m.number || 'no number'),
        h('div', { class: 'muted small' }, m.name, m.emulated ? ' · emulated' : '', m.model ? ` · ${m.model}` : '')),
      pill(label(m.state), statusKind[m.state] || 'warn')),
    h('dl', {},
      h('dt', {}, 'Signal'),
      h('dd', {}, bars(m.signal_bars), m.signal_dbm === null || m.signal_dbm === undefined ? '—' : `${m.signal_dbm} dBm`,
        h('span', { class: 'sr-only' }, ` ${m.signal_bars || 0} of 4 bars`)),
      h('dt', {}, 'Operator'), h('dd', {}, m.operator || '—'),
      h('dt', {}, 'Network'), h('dd', {}, reg, m.roaming ? ' ' : '', m.roaming ? pill('roaming', 'warn') : ''),
      h('dt', {}, 'ICCID'), h('dd', { class: 'mono' }, m.iccid || '—'),
      h('dt', {}, 'IMEI'), h('dd', { class: 'mono' }, m.imei || '—'),
      h('dt', {}, 'SIM store'),
      h('dd', {}, total ? `${used || 0} / ${total}` : '—',
        pct === null ? '' : h('div', { class: 'meter', role: 'meter', 'aria-valuenow': pct, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-label': 'SIM storage used' }, h('span', { style: `width:${pct}%` }))),
      h('dt', {}, 'Today'), h('dd', {}, `${m.messages_today} received`),
      m.last_error ? [h('dt', {}, 'Last error'), h('dd', { class: 'small', style: 'color:var(--bad)' }, m.last_error)] : null));
}

export async function render(main, ctx) {
  const stats = h('div', { class: 'stats' });
  const modems = h('div', { class: 'grid', id: 'modems' }, loading('Asking the modems…'));
  const charts = h('div', { class: 'cols' });
  const hours = h('select', { id: 'f-hours', 'aria-label': 'Chart period' },
    h('option', { value: '24' }, 'Last 24 hours'), h('option', { value: '72' }, 'Last 3 days'), h('option', { value: '168' }, 'Last 7 days'));
  main.append(
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Dashboard'), h('p', { class: 'muted' }, 'Modems, SIMs and traffic of this box.'))),
    stats,
    h('section', { 'aria-labelledby': 'modems-h' }, h('h2', { id: 'modems-h' }, 'Modems and SIMs'), modems),
    h('section', { 'aria-labelledby': 'tp-h', style: 'margin-top:1.25rem' },
      h('div', { class: 'page-head', style: 'margin-bottom:.5rem' }, h('h2', { id: 'tp-h', style: 'margin:0' }, 'Throughput'), h('div', {}, hours)),
      charts));

  let lastModems = [];
  async function loadModems() {
    try {
      const data = await api('/admin/modems');
      lastModems = data.modems;
      clear(modems);
      if (!data.modems.length) {
        modems.append(empty('No modems configured', 'Add modems to the configuration file, or run `simgate demo`.'));
      }
      for (const m of data.modems) modems.append(modemCard(m));
    } catch (err) {
      clear(modems).append(errorBox(err, loadModems));
    }
  }

  async function loadStats() {
    try {
      const t = await api('/admin/stats/throughput', { params: { hours: hours.value } });
      const ready = lastModems.filter((m) => m.state === 'ready').length;
      const today = lastModems.reduce((s, m) => s + (m.messages_today || 0), 0);
      clear(stats).append(
        h('div', { class: 'stat' }, h('div', { class: 'value' }, `${ready}/${lastModems.length}`), h('div', { class: 'label' }, 'modems ready')),
        h('div', { class: 'stat' }, h('div', { class: 'value' }, String(today)), h('div', { class: 'label' }, 'received today')),
        h('div', { class: 'stat' }, h('div', { class: 'value' }, String(t.totals.received)), h('div', { class: 'label' }, `received, ${hours.selectedOptions[0].textContent.toLowerCase()}`)),
        h('div', { class: 'stat' }, h('div', { class: 'value' }, String(t.totals.sent)), h('div', { class: 'label' }, `sent (${t.totals.pending} pending, ${t.totals.failed + t.totals.undelivered} failed)`)));
      const series = (key) => t.channels.filter((c) => c[key].some((v) => v > 0)).map((c) => ({ name: c.channel, values: c[key] }));
      clear(charts).append(
        h('div', { class: 'panel' }, h('h3', {}, 'Received per hour, per SIM'), stackedBars(t.hours, series('received'), 'Received messages')),
        h('div', { class: 'panel' }, h('h3', {}, 'Sent per hour, per channel'), stackedBars(t.hours, series('sent'), 'Sent messages')),
        h('div', { class: 'panel', style: 'display:flex;gap:1.5rem;align-items:center;flex-wrap:wrap' },
          gauge(t.totals.success_rate, 'delivery success'),
          h('div', { class: 'small' },
            h('h3', {}, 'Delivery'),
            h('div', {}, `${t.totals.delivered} delivered`),
            h('div', {}, `${t.totals.undelivered} undelivered`),
            h('div', {}, `${t.totals.failed} failed`),
            h('div', {}, `${t.totals.pending} queued or sending`))));
    } catch (err) {
      clear(charts).append(errorBox(err, loadStats));
    }
  }

  hours.addEventListener('change', loadStats);
  const refresh = debounce(async () => { await loadModems(); await loadStats(); }, 400);
  await loadModems();
  await loadStats();
  const offs = [ctx.live.on('new_message', refresh), ctx.live.on('sms_status', refresh)];
  ctx.onReconnect(refresh);
  const timer = setInterval(loadModems, 15000);
  return () => { clearInterval(timer); offs.forEach((f) => f()); };
}
