// Send an SMS through the outbound queue: recipient, text, channel; a live segment
// counter with the codec's rules; delivery status updating live.

import { api } from '../api.js';
import { countSegments, nonGsm } from '../segments.js';
import { busy, clear, clearErrors, empty, errorBox, field, h, loading, pill, showErrors, statusKind, time, toast } from '../ui.js';

export async function render(main, ctx) {
  const to = h('input', { type: 'tel', inputmode: 'tel', autocomplete: 'off', placeholder: '+15550100001' });
  const from = h('select', {}, h('option', { value: '' }, 'Automatic (best channel)'));
  const text = h('textarea', { maxlength: 1530, placeholder: 'Your message' });
  const counter = h('div', { class: 'counter', id: 'segment-counter', 'aria-live': 'polite' });
  const submit = h('button', { class: 'btn', type: 'submit', id: 'send-submit' }, 'Send');
  const form = h('form', { class: 'panel', id: 'send-form', novalidate: true },
    h('div', { class: 'form-error', role: 'alert', hidden: true }),
    h('div', { class: 'row' },
      field('f-to', 'Recipient', to, 'International format, with the country code.'),
      field('f-from', 'Channel', from)),
    h('div', { class: 'field' }, h('label', { for: 'f-text' }, 'Message'), text, counter),
    submit);
  text.id = 'f-text';
  text.name = 'text';
  const jobs = h('div', { class: 'table-wrap', id: 'jobs' }, loading());
  main.append(
    h('div', { class: 'page-head' }, h('div', {}, h('h1', {}, 'Send'), h('p', { class: 'muted' }, 'Queued first, then sent through a SIM; failures move to the next channel.'))),
    h('div', { class: 'cols' },
      h('section', { 'aria-label': 'New message' }, form),
      h('section', { class: 'panel', 'aria-labelledby': 'jobs-h' }, h('h2', { id: 'jobs-h' }, 'Recent'), jobs)));

  function updateCounter() {
    const c = countSegments(text.value);
    const odd = c.encoding === 'ucs2' ? nonGsm(text.value).slice(0, 5).join(' ') : '';
    clear(counter).append(
      pill(c.encoding === 'gsm7' ? 'GSM 7-bit' : 'Unicode (UCS-2)', c.encoding === 'gsm7' ? 'ok' : 'warn'),
      pill(`${c.parts} part${c.parts === 1 ? '' : 's'}`, c.parts > 1 ? 'info' : ''),
      h('span', { class: 'muted', dataset: { encoding: c.encoding, parts: c.parts, left: c.chars_left } },
        `${c.chars_left} characters left in this part (${c.per_part} per part)`),
      odd ? h('span', { class: 'muted' }, `· Unicode because of: ${odd}`) : '');
  }
  text.addEventListener('input', updateCounter);
  updateCounter();

  api('/admin/modems').then((d) => {
    for (const m of d.modems) {
      if (m.number) from.append(h('option', { value: m.number }, `${m.number} (${m.name}${m.state === 'ready' ? '' : `, ${m.state}`})`));
    }
  }).catch(() => {});

  let list = [];
  function drawJobs() {
    clear(jobs);
    if (!list.length) { jobs.append(empty('Nothing sent yet', 'Messages you send appear here with their delivery status.')); return; }
    jobs.append(h('table', {},
      h('thead', {}, h('tr', {}, ['To', 'Text', 'Status', 'Via'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((j) => h('tr', { class: 'job', dataset: { id: j.id } },
        h('td', { class: 'mono' }, j.to),
        h('td', { class: 'job-text', title: j.text }, j.text),
        h('td', {}, h('span', { class: `status pill ${statusKind[j.status] || ''}`, title: j.error || '' }, j.status),
          j.error ? h('div', { class: 'small', style: 'color:var(--bad)' }, j.error) : null),
        h('td', { class: 'small' }, j.from || j.channel || '—', h('div', { class: 'muted' }, time(j.updated_at))))))));
  }
  async function loadJobs() {
    try { list = (await api('/admin/sms')).sms; drawJobs(); } catch (err) { clear(jobs).append(errorBox(err, loadJobs)); }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    await busy(submit, 'Queueing…', async () => {
      try {
        const d = await api('/admin/sms', { method: 'POST', body: { to: to.value.trim(), text: text.value, from: from.value || null } });
        list = [d.sms, ...list.filter((j) => j.id !== d.sms.id)];
        drawJobs();
        toast(`Queued for ${d.sms.to}`);
        text.value = '';
        updateCounter();
      } catch (err) { showErrors(form, err); }
    });
  });

  await loadJobs();
  const off = ctx.live.on('sms_status', async (s) => {
    const j = list.find((x) => x.id === s.id);
    if (!j) { loadJobs(); return; }
    try { Object.assign(j, (await api(`/admin/sms/${s.id}`)).sms); } catch { Object.assign(j, { status: s.status, error: s.error, updated_at: s.updated_at }); }
    drawJobs();
  });
  ctx.onReconnect(loadJobs);
  return off;
}
