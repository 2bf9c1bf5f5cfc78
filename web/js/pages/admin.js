// Running the box: users (ban, role), API keys, webhooks and their deliveries,
// channel health, and the emulator's inject form in demo mode.

import { api, getSession } from '../api.js';
import { busy, clear, clearErrors, copy, debounce, empty, errorBox, field, h, loading, options, pill, showErrors, statusKind, time, toast } from '../ui.js';

function section(id, title, ...body) {
  return h('section', { class: 'panel', id, 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h` }, title), body);
}

export async function render(main, ctx) {
  const me = getSession().user || {};
  const inject = h('div', { id: 'inject-wrap' });
  const health = h('div', { class: 'table-wrap' }, loading());
  const users = h('div', { class: 'table-wrap' }, loading());
  const keys = h('div', {}, loading());
  const hooks = h('div', {}, loading());
  const userSearch = h('input', { type: 'search', id: 'f-user-q', placeholder: 'Search email or phone', 'aria-label': 'Search users' });
  main.append(
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Admin'), h('p', { class: 'muted' }, 'Users, keys, webhooks and channels.'))),
    h('div', { class: 'cols' }, inject, section('health', 'Channels and health', health)),
    section('users', 'Users', h('div', { style: 'max-width:320px;margin-bottom:.75rem' }, userSearch), users),
    h('div', { class: 'cols' }, section('keys', 'My API keys', keys), section('webhooks', 'Webhooks', hooks)));

  // Emulator (demo mode only).
  async function loadInject() {
    try {
      const d = await api('/admin/modems');
      const emulated = d.modems.filter((m) => m.emulated && m.number);
      clear(inject);
      if (!emulated.length) return;
      const to = h('select', {}, emulated.map((m) => h('option', { value: m.number }, `${m.number} (${m.name})`)));
      const from = h('input', { type: 'text', value: 'WhatsApp', autocomplete: 'off' });
      const text = h('textarea', { style: 'min-height:4.5rem' });
      text.value = `Your WhatsApp code is ${String(Math.floor(100 + Math.random() * 900))}-${String(Math.floor(100 + Math.random() * 900))}`;
      const submit = h('button', { class: 'btn', type: 'submit', id: 'inject-submit' }, 'Deliver to the emulated SIM');
      const form = h('form', { id: 'inject-form', novalidate: true },
        h('div', { class: 'form-error', role: 'alert', hidden: true }),
        h('div', { class: 'row' }, field('f-inject-to', 'To (emulated SIM)', to), field('f-inject-from', 'From', from)),
        field('f-inject-text', 'Text', text, 'Encoded as the network would, stored on the SIM, announced with +CMTI.'),
        submit);
      to.name = 'to'; from.name = 'from'; text.name = 'text';
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        clearErrors(form);
        await busy(submit, 'Delivering…', async () => {
          try {
            const r = await api('/admin/emulator/sms', { method: 'POST', body: { to: to.value, from: from.value, text: text.value } });
            toast(`Delivered to ${r.to} in ${r.parts} part${r.parts === 1 ? '' : 's'}: watch the inbox`);
          } catch (err) { showErrors(form, err); }
        });
      });
      inject.append(section('inject', 'Inject an SMS (demo)', form));
    } catch { clear(inject); }
  }

  async function loadHealth() {
    let body;
    let sending;
    try {
      const res = await fetch('/api/health/ready');
      body = await res.json();
      sending = (await api('/admin/channels')).channels;
    } catch (err) { clear(health).append(errorBox({ message: 'Cannot reach the box' }, loadHealth)); return; }
    const db = body.checks.database;
    const breaker = { closed: 'ok', 'half-open': 'warn', open: 'bad' };
    clear(health).append(
      h('p', {}, 'Box: ', pill(body.status.replace('_', ' '), body.status === 'ready' ? 'ok' : 'bad'),
        ' Database: ', pill(db.status, db.status === 'ok' ? 'ok' : 'bad'),
        db.latency_ms !== undefined ? h('span', { class: 'muted small' }, ` ${db.latency_ms.toFixed(1)} ms`) : null),
      body.checks.modems.length ? h('table', { id: 'modem-health' },
        h('caption', { class: 'muted small' }, 'Modems'),
        h('thead', {}, h('tr', {}, ['Modem', 'Number', 'State', 'Signal', 'Last error'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, body.checks.modems.map((m) => h('tr', {},
          h('td', {}, m.name), h('td', { class: 'mono' }, m.number || '—'),
          h('td', {}, pill(String(m.state).replace(/_/g, ' '), statusKind[m.state] || 'warn')),
          h('td', {}, m.signal_dbm === null || m.signal_dbm === undefined ? '—' : `${m.signal_dbm} dBm`),
          h('td', { class: 'small' }, m.last_error || '—'))))) : null,
      sending.length ? h('table', { id: 'channel-health' },
        h('caption', { class: 'muted small' }, 'Send channels, in the order the queue tries them'),
        h('thead', {}, h('tr', {}, ['Channel', 'Kind', 'Priority', 'Ready', 'Breaker', 'Failures', 'Last error'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, sending.map((c) => h('tr', {},
          h('td', {}, c.name), h('td', {}, c.provider), h('td', {}, String(c.priority)),
          h('td', {}, pill(c.ready ? 'ready' : 'not ready', c.ready ? 'ok' : 'bad')),
          h('td', {}, pill(c.state, breaker[c.state] || 'warn')),
          h('td', {}, String(c.consecutive_failures)),
          h('td', { class: 'small' }, c.last_error || '—'))))) : null,
      !body.checks.modems.length && !sending.length ? empty('No channels', 'No modem or provider is configured.') : null);
  }

  async function loadUsers() {
    try {
      const d = await api('/admin/users', { params: { q: userSearch.value.trim(), limit: 100 } });
      clear(users);
      if (!d.users.length) { users.append(empty('No user matches', '')); return; }
      users.append(h('table', {},
        h('thead', {}, h('tr', {}, ['User', 'Role', 'Status', 'Numbers', 'Messages', 'Last sign-in', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, d.users.map((u) => {
          const self = u.id === me.id;
          const role = h('select', { 'aria-label': `Role of ${u.email || u.phone}`, disabled: self }, options([['user', 'user'], ['admin', 'admin']], u.role));
          role.addEventListener('change', () => change(u, { role: role.value }, `${u.email || u.phone} is now ${role.value}`));
          const ban = h('button', { class: u.is_active ? 'btn danger small' : 'btn ghost small', type: 'button', disabled: self },
            u.is_active ? 'Ban' : 'Unban');
          ban.addEventListener('click', () => {
            if (u.is_active && !confirm(`Ban ${u.email || u.phone}? Their sessions end at once.`)) return;
            busy(ban, '…', () => change(u, { is_active: !u.is_active }, u.is_active ? 'User banned' : 'User unbanned'));
          });
          return h('tr', { dataset: { user: u.id } },
            h('td', {}, u.email || u.phone, self ? h('span', { class: 'muted small' }, ' (you)') : null),
            h('td', {}, role),
            h('td', {}, pill(u.is_active ? 'active' : 'banned', u.is_active ? 'ok' : 'bad')),
            h('td', {}, String(u.active_assignments)),
            h('td', {}, String(u.messages)),
            h('td', {}, u.last_login ? time(u.last_login) : 'never'),
            h('td', {}, ban));
        }))));
    } catch (err) { clear(users).append(errorBox(err, loadUsers)); }
  }
  async function change(u, body, done) {
    try { await api(`/admin/users/${u.id}`, { method: 'PATCH', body }); toast(done); } catch (err) { toast(err.message, 'bad'); }
    loadUsers();
  }

  async function loadKeys() {
    const name = h('input', { type: 'text', placeholder: 'e.g. billing server', autocomplete: 'off' });
    const days = h('input', { type: 'number', min: 1, max: 3650, placeholder: 'never' });
    const submit = h('button', { class: 'btn', type: 'submit' }, 'Create key');
    const shown = h('div', {});
    const form = h('form', { novalidate: true, id: 'key-form' },
      h('div', { class: 'form-error', role: 'alert', hidden: true }),
      h('div', { class: 'row' }, field('f-key-name', 'Name', name), field('f-key-days', 'Expires in days', days), h('div', { class: 'field' }, submit)));
    name.name = 'name'; days.name = 'expires_in_days';
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      await busy(submit, 'Creating…', async () => {
        try {
          const d = await api('/account/api-keys', { method: 'POST', body: { name: name.value, expires_in_days: days.value ? Number(days.value) : null } });
          clear(shown).append(h('div', { class: 'panel', role: 'status' },
            h('p', {}, h('strong', {}, 'Store this key now: it is not shown again.')),
            h('div', { class: 'key-once' }, d.api_key.key), ' ',
            h('button', { class: 'btn small', type: 'button', style: 'margin-top:.5rem', onclick: () => copy(d.api_key.key) }, 'Copy key')));
          name.value = '';
          await drawKeys();
        } catch (err) { showErrors(form, err); }
      });
    });
    const table = h('div', { class: 'table-wrap' });
    async function drawKeys() {
      try {
        const d = await api('/account/api-keys');
        clear(table);
        if (!d.api_keys.length) { table.append(empty('No API keys', 'Servers call the API with X-API-Key.')); return; }
        table.append(h('table', {},
          h('thead', {}, h('tr', {}, ['Name', 'Key', 'Last used', 'State', ''].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, d.api_keys.map((k) => h('tr', {},
            h('td', {}, k.name), h('td', { class: 'mono' }, `${k.prefix}…`),
            h('td', {}, k.last_used_at ? time(k.last_used_at) : 'never'),
            h('td', {}, pill(k.is_active ? 'active' : k.revoked_at ? 'revoked' : 'expired', k.is_active ? 'ok' : '')),
            h('td', {}, k.is_active ? h('button', {
              class: 'btn danger small', type: 'button',
              onclick: (e) => busy(e.currentTarget, '…', async () => {
                try { await api(`/account/api-keys/${k.id}`, { method: 'DELETE' }); toast('Key revoked'); } catch (err) { toast(err.message, 'bad'); }
                await drawKeys();
              }),
            }, 'Revoke') : null))))));
      } catch (err) { clear(table).append(errorBox(err, drawKeys)); }
    }
    clear(keys).append(form, shown, table);
    await drawKeys();
  }

  // Webhooks (every user's, as an admin) with their delivery logs.
  const EVENTS = ['sms.received', 'otp.received', 'sms.status', 'assignment.status'];
  async function loadHooks() {
    let d;
    try {
      d = await api('/webhooks', { params: { all: true } });
    } catch (err) {
      clear(hooks).append(err.status === 404
        ? empty('Webhooks are not served by this build', '')
        : errorBox(err, loadHooks));
      return;
    }
    const url = h('input', { type: 'url', placeholder: 'https://example.com/hooks/sms', autocomplete: 'off' });
    const boxes = EVENTS.map((e) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: e, checked: e !== 'assignment.status' }), e));
    const submit = h('button', { class: 'btn', type: 'submit' }, 'Add webhook');
    const secretBox = h('div', {});
    const form = h('form', { novalidate: true, id: 'hook-form' },
      h('div', { class: 'form-error', role: 'alert', hidden: true }),
      field('f-hook-url', 'URL', url),
      h('fieldset', { id: 'f-hook-events', style: 'border:0;padding:0;margin:0 0 .85rem' }, h('legend', { class: 'small', style: 'font-weight:600' }, 'Events'),
        h('div', { class: 'row', style: 'gap:.25rem 1rem' }, boxes)),
      submit);
    url.name = 'url';
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearErrors(form);
      await busy(submit, 'Adding…', async () => {
        try {
          const events = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
          const r = await api('/webhooks', { method: 'POST', body: { url: url.value.trim(), events } });
          await loadHooks();
          if (r.webhook && r.webhook.secret) {
            secretBox.replaceChildren(h('div', { class: 'panel', role: 'status' },
              h('p', {}, h('strong', {}, 'Signing secret, shown once:')), h('div', { class: 'key-once' }, r.webhook.secret)));
            hooks.prepend(secretBox);
          }
          toast('Webhook added');
        } catch (err) { showErrors(form, err); }
      });
    });
    const list = d.webhooks || [];
    clear(hooks).append(form);
    if (!list.length) { hooks.append(empty('No webhooks', 'Events are POSTed, signed, to each webhook URL.')); return; }
    const act = (label, fn) => (e) => busy(e.currentTarget, '…', async () => {
      try { await fn(); toast(label); } catch (err) { toast(err.message, 'bad'); }
      await loadHooks();
    });
    for (const w of list) {
      const log = h('div', { class: 'table-wrap' });
      const show = h('button', { class: 'btn ghost small', type: 'button' }, 'Delivery log');
      show.addEventListener('click', () => busy(show, 'Loading…', async () => {
        try {
          const r = await api(`/webhooks/${w.id}/deliveries`, { params: { limit: 50 } });
          const rows = r.deliveries || [];
          clear(log).append(rows.length ? h('table', {},
            h('thead', {}, h('tr', {}, ['Event', 'Status', 'HTTP', 'Tries', 'When'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, rows.map((x) => h('tr', { title: x.last_error || '' },
              h('td', {}, x.event), h('td', {}, pill(x.status, x.status === 'delivered' ? 'ok' : x.status === 'failed' ? 'bad' : 'info')),
              h('td', {}, x.last_status ?? '—'), h('td', {}, String(x.attempts)),
              h('td', {}, time(x.last_attempt_at || x.created_at)))))) : empty('No deliveries yet', ''));
        } catch (err) { clear(log).append(errorBox(err)); }
      }));
      hooks.append(h('div', { class: 'hook', style: 'border-top:1px solid var(--border);padding:.6rem 0' },
        h('div', { class: 'mono small', style: 'overflow-wrap:anywhere' }, w.url),
        h('div', { class: 'row', style: 'align-items:center;gap:.4rem;margin-top:.3rem' },
          pill(w.enabled ? 'enabled' : 'disabled', w.enabled ? 'ok' : 'bad'),
          w.pending_deliveries ? pill(`${w.pending_deliveries} pending`, 'info') : '',
          h('span', { class: 'small muted' }, (w.events || []).join(', ')),
          w.last_error ? h('span', { class: 'small', style: 'color:var(--bad)' }, w.last_error) : ''),
        h('div', { class: 'row', style: 'gap:.4rem;margin-top:.4rem' },
          show,
          h('button', { class: 'btn ghost small', type: 'button', onclick: act('Test event queued', () => api(`/webhooks/${w.id}/test`, { method: 'POST' })) }, 'Send test'),
          w.enabled ? '' : h('button', { class: 'btn ghost small', type: 'button', onclick: act('Webhook enabled', () => api(`/webhooks/${w.id}/enable`, { method: 'POST' })) }, 'Enable'),
          h('button', { class: 'btn danger small', type: 'button', onclick: (e) => { if (confirm(`Delete the webhook to ${w.url}?`)) act('Webhook deleted', () => api(`/webhooks/${w.id}`, { method: 'DELETE' }))(e); } }, 'Delete')),
        log));
    }
  }

  userSearch.addEventListener('input', debounce(loadUsers, 250));
  await Promise.all([loadInject(), loadHealth(), loadUsers(), loadKeys(), loadHooks()]);
  const timer = setInterval(loadHealth, 15000);
  ctx.onReconnect(() => { loadHealth(); loadUsers(); });
  return () => clearInterval(timer);
}
