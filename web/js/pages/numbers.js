// The number pool: who holds what until when; assign, extend, release.

import { api, getSession, isAdmin } from '../api.js';
import { busy, clear, empty, errorBox, h, loading, options, pill, statusKind, time, toast } from '../ui.js';

const DURATIONS = [['900', '15 minutes'], ['3600', '1 hour'], ['21600', '6 hours'], ['86400', '24 hours']];

export async function render(main, ctx) {
  const admin = isAdmin();
  const me = getSession().user || {};
  const duration = h('select', { id: 'f-duration', 'aria-label': 'Lease length for new assignments' }, options(DURATIONS, '3600'));
  const pool = h('div', { class: 'table-wrap', id: 'pool' }, loading());
  const mine = h('div', { class: 'table-wrap', id: 'mine' }, loading());
  main.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Numbers'), h('p', { class: 'muted' }, admin ? 'Every number of the box and who holds it.' : 'Numbers free to assign, and yours.')),
      h('div', { class: 'row' }, h('div', { class: 'field', style: 'margin:0' }, h('label', { for: 'f-duration' }, 'Assign for'), duration))),
    h('section', { class: 'panel', 'aria-labelledby': 'pool-h' }, h('h2', { id: 'pool-h' }, admin ? 'Pool' : 'Available'), pool),
    h('section', { class: 'panel', 'aria-labelledby': 'mine-h' }, h('h2', { id: 'mine-h' }, 'My assignments'), mine));

  async function act(button, label, fn, done) {
    await busy(button, label, async () => {
      try { await fn(); toast(done); await loadAll(); } catch (err) { toast(err.message, 'bad'); }
    });
  }

  const assign = (number) => (e) => act(e.currentTarget, 'Assigning…',
    () => api('/numbers/assign', { method: 'POST', body: { number, duration: Number(duration.value) } }), `${number} is yours`);
  const extend = (id, viaAdmin) => (e) => act(e.currentTarget, 'Extending…',
    () => api(viaAdmin ? `/admin/numbers/${id}/extend` : `/numbers/${id}/extend`, { method: 'POST', body: { duration: 3600 } }), 'Extended by 1 hour');
  const release = (id, number, viaAdmin) => (e) => {
    if (!confirm(`Release ${number}? Its messages stop reaching the holder.`)) return;
    act(e.currentTarget, 'Releasing…', () => api(viaAdmin ? `/admin/numbers/${id}` : `/numbers/${id}`, { method: 'DELETE' }), `${number} released`);
  };

  async function loadPool() {
    try {
      if (admin) {
        const d = await api('/admin/numbers');
        clear(pool);
        if (!d.numbers.length) { pool.append(empty('No numbers yet', 'Numbers appear when a modem with a SIM comes up.')); return; }
        pool.append(h('table', {},
          h('thead', {}, h('tr', {}, ['Number', 'Country', 'Channel', 'Holder', 'Until', 'Today', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, d.numbers.map((n) => h('tr', { dataset: { number: n.number } },
            h('td', { class: 'mono' }, n.number),
            h('td', {}, n.country),
            h('td', {}, n.channel, ' ', h('span', { class: 'muted small' }, n.provider)),
            h('td', {}, n.holder_id ? (n.holder_id === me.id ? pill('you', 'accent') : n.holder_email || `user ${n.holder_id}`) : pill(n.enabled ? 'free' : 'disabled', n.enabled ? 'ok' : '')),
            h('td', {}, n.expires_at ? time(n.expires_at) : '—'),
            h('td', {}, String(n.messages_today)),
            h('td', { style: 'white-space:nowrap' }, n.holder_id
              ? [h('button', { class: 'btn ghost small', type: 'button', onclick: extend(n.assignment_id, true) }, 'Extend 1 h'),
                h('button', { class: 'btn danger small', type: 'button', onclick: release(n.assignment_id, n.number, true) }, 'Release')]
              : n.enabled ? h('button', { class: 'btn small', type: 'button', onclick: assign(n.number) }, 'Assign to me') : null))))));
      } else {
        const d = await api('/numbers/available', { params: { limit: 50 } });
        clear(pool);
        if (!d.numbers.length) { pool.append(empty('No free number right now', 'Every number is assigned; try again when a lease ends.')); return; }
        pool.append(h('table', {},
          h('thead', {}, h('tr', {}, ['Number', 'Country', 'Provider', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, d.numbers.map((n) => h('tr', {},
            h('td', { class: 'mono' }, n.number), h('td', {}, n.country), h('td', {}, n.provider),
            h('td', {}, h('button', { class: 'btn small', type: 'button', onclick: assign(n.number) }, 'Assign')))))));
      }
    } catch (err) { clear(pool).append(errorBox(err, loadPool)); }
  }

  async function loadMine() {
    try {
      const d = await api('/numbers/my', { params: { limit: 100 } });
      clear(mine);
      if (!d.assignments.length) { mine.append(empty('You hold no number', 'Assign one above to receive its messages.')); return; }
      mine.append(h('table', {},
        h('thead', {}, h('tr', {}, ['Number', 'Status', 'Until', 'Messages', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, d.assignments.map((a) => h('tr', {},
          h('td', { class: 'mono' }, a.number),
          h('td', {}, pill(a.status, statusKind[a.status])),
          h('td', {}, time(a.expires_at)),
          h('td', {}, String(a.message_count)),
          h('td', { style: 'white-space:nowrap' }, a.status === 'active'
            ? [h('button', { class: 'btn ghost small', type: 'button', onclick: extend(a.id, false) }, 'Extend 1 h'),
              h('button', { class: 'btn danger small', type: 'button', onclick: release(a.id, a.number, false) }, 'Release')]
            : null))))));
    } catch (err) { clear(mine).append(errorBox(err, loadMine)); }
  }

  async function loadAll() { await Promise.all([loadPool(), loadMine()]); }
  await loadAll();
  const off = ctx.live.on('assignment_status', loadAll);
  ctx.onReconnect(loadAll);
  return off;
}
