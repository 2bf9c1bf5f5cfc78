// Messages as they arrive (Socket.IO), the code highlighted with a one-click copy,
// filters, search, whole multipart messages and unread counts.

import { api, isAdmin } from '../api.js';
import { busy, clear, copy, debounce, empty, errorBox, h, loading, options, pill, time, toast } from '../ui.js';

const TYPES = [['', 'All types'], ['otp', 'Codes (OTP)'], ['verification', 'Verification'], ['notification', 'Notification'], ['other', 'Other']];
const READ = [['', 'Read and unread'], ['false', 'Unread'], ['true', 'Read']];
const PAGE = 50;

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

/** The text with the code (as written, e.g. 482-913 for 482913) marked. */
function highlighted(content, code) {
  if (!code) return [content];
  const pattern = new RegExp(Array.from(code).map(escapeRe).join('[\\s-]?'), 'g');
  const out = [];
  let last = 0;
  for (const m of content.matchAll(pattern)) {
    out.push(content.slice(last, m.index), h('mark', {}, m[0]));
    last = m.index + m[0].length;
  }
  out.push(content.slice(last));
  return out;
}

export async function render(main, ctx) {
  const admin = isAdmin();
  const search = h('input', { type: 'search', id: 'f-q', placeholder: 'Text, sender, code, service', autocomplete: 'off' });
  const number = h('select', { id: 'f-number' }, h('option', { value: '' }, 'All numbers'));
  const type = h('select', { id: 'f-type' }, options(TYPES, ''));
  const service = h('select', { id: 'f-service' }, h('option', { value: '' }, 'All services'));
  const read = h('select', { id: 'f-read' }, options(READ, ''));
  const summary = h('p', { class: 'muted', id: 'inbox-summary', 'aria-live': 'polite' });
  const list = h('div', { class: 'messages', id: 'messages' }, loading());
  const more = h('button', { class: 'btn ghost', type: 'button', hidden: true }, 'Load more');
  const markAll = h('button', { class: 'btn ghost small', type: 'button', hidden: admin }, 'Mark all read');
  const flt = (id, text, input, cls) => h('div', { class: cls || '' }, h('label', { for: id }, text), input);
  main.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Inbox'), summary),
      markAll),
    h('form', { class: 'filters', role: 'search', onsubmit: (e) => e.preventDefault() },
      flt('f-q', 'Search', search, 'search'), flt('f-number', 'Number', number), flt('f-type', 'Type', type),
      flt('f-service', 'Service', service), flt('f-read', 'Status', read)),
    list,
    h('div', { style: 'text-align:center;margin-top:1rem' }, more));

  let page = 1;
  let seen = new Set();
  let messages = [];
  let firstLoad = true;

  api(admin ? '/admin/numbers' : '/numbers/my', { params: admin ? {} : { status: 'active' } }).then((d) => {
    const nums = admin ? d.numbers.map((n) => n.number) : d.assignments.map((a) => a.number);
    for (const n of [...new Set(nums)]) number.append(h('option', { value: n }, n));
  }).catch(() => {});

  function matchesSearch(m) {
    const q = search.value.trim().toLowerCase();
    if (!q || admin) return true; // the server searches for admins
    return [m.content, m.from_number, m.otp_code, m.service].some((v) => v && String(v).toLowerCase().includes(q));
  }

  async function fetchPage(p) {
    const params = { page: p, limit: PAGE, number: number.value, type: type.value, is_read: read.value };
    if (admin) Object.assign(params, { q: search.value.trim(), service: service.value });
    return api(admin ? '/admin/messages' : '/messages', { params });
  }

  function card(m, fresh) {
    const el = h('article', {
      class: `msg${m.is_read ? '' : ' unread'}${fresh ? ' fresh' : ''}`,
      dataset: { id: m.id }, 'aria-label': `Message from ${m.from_number}${m.is_read ? '' : ', unread'}`,
    });
    const partial = (m.parts_total || 1) > (m.parts_received || 1);
    el.append(
      h('div', { class: 'msg-head' },
        h('span', { class: 'from' }, m.from_number),
        h('span', {}, '→ ', h('span', { class: 'mono' }, m.to_number)),
        m.service ? pill(m.service, 'accent') : null,
        pill(m.type, m.type === 'otp' ? 'warn' : m.type === 'verification' ? 'info' : ''),
        (m.parts_total || 1) > 1 ? pill(partial ? `${m.parts_received} of ${m.parts_total} parts` : `${m.parts_total} parts`, partial ? 'bad' : '') : null,
        m.is_read ? null : h('span', { class: 'sr-only' }, 'unread'),
        time(m.received_at)),
      h('p', { class: 'msg-body' }, highlighted(m.content, m.otp_code)),
      m.otp_code ? h('div', { class: 'otp' },
        h('span', { class: 'sr-only' }, 'Code '),
        h('span', { class: 'otp-code' }, m.otp_code),
        h('button', { class: 'btn small', type: 'button', 'aria-label': `Copy code ${m.otp_code}`, onclick: () => copy(m.otp_code) }, 'Copy')) : null,
      m.is_read ? null : h('div', { class: 'msg-actions' },
        h('button', { class: 'btn ghost small', type: 'button', onclick: (e) => markRead(m, e.currentTarget) }, 'Mark read')));
    return el;
  }

  function draw(freshIds = new Set()) {
    clear(list);
    const shown = messages.filter(matchesSearch);
    if (!shown.length) {
      const filtered = search.value || number.value || type.value || service.value || read.value;
      list.append(filtered
        ? empty('No message matches', 'Change or clear the filters.')
        : empty('No messages yet', admin
          ? 'Messages appear here the moment a SIM receives them. In demo mode, inject one from Admin.'
          : 'Assign a number under Numbers; its messages appear here the moment they arrive.'));
      return;
    }
    for (const m of shown) list.append(card(m, freshIds.has(m.id)));
  }

  async function load(reset = true) {
    if (reset) page = 1;
    try {
      const data = await fetchPage(page);
      const fresh = new Set();
      if (!firstLoad) for (const m of data.messages) if (!seen.has(m.id)) fresh.add(m.id);
      firstLoad = false;
      for (const m of data.messages) seen.add(m.id);
      messages = reset ? data.messages : messages.concat(data.messages);
      summary.textContent = `${data.total} message${data.total === 1 ? '' : 's'}, ${data.unread_count} unread`;
      if (!number.value && !type.value && !service.value && !search.value) ctx.setUnread(data.unread_count);
      if (admin && data.services) {
        const have = new Set([...service.options].map((o) => o.value));
        for (const s of data.services) if (!have.has(s)) service.append(h('option', { value: s }, s));
      }
      more.hidden = messages.length >= data.total;
      draw(fresh);
    } catch (err) {
      clear(list).append(errorBox(err, () => load(true)));
    }
  }

  async function markRead(m, button) {
    await busy(button, 'Marking…', async () => {
      try {
        await api(admin ? `/admin/messages/${m.id}/read` : `/messages/${m.id}/read`, { method: 'PATCH' });
        m.is_read = true;
        draw();
        load(true);
      } catch (err) { toast(err.message, 'bad'); }
    });
  }

  markAll.addEventListener('click', () => busy(markAll, 'Marking…', async () => {
    try {
      const d = await api('/messages/read-all', { method: 'PATCH' });
      toast(`${d.marked_count ?? 'All'} marked read`);
      load(true);
    } catch (err) { toast(err.message, 'bad'); }
  }));
  more.addEventListener('click', () => busy(more, 'Loading…', async () => { page++; await load(false); }));
  for (const el of [number, type, service, read]) el.addEventListener('change', () => load(true));
  search.addEventListener('input', debounce(() => (admin ? load(true) : draw()), 250));

  const reload = debounce(() => load(true), 120);
  await load(true);
  const offs = [ctx.live.on('new_message', reload), ctx.live.on('message_updated', reload)];
  ctx.onReconnect(reload);
  const tick = setInterval(() => list.querySelectorAll('time').forEach((t) => {
    const m = messages.find((x) => x.received_at === t.getAttribute('datetime'));
    if (m) t.textContent = time(m.received_at).textContent;
  }), 30000);
  return () => { offs.forEach((f) => f()); clearInterval(tick); };
}
