// DOM helpers shared by the pages: element builder, formatting, toasts, field errors,
// loading and empty states.

/** h('div', {class: 'x', onclick: fn}, child, 'text', [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v; // CSSOM: allowed by the page's CSP
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'html') el.innerHTML = v; // only for trusted, static markup
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === 'style') el.style.cssText = v;
    else if (typeof v === 'string' && v.includes('var(')) el.style.setProperty(k, v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) { while (el.firstChild) el.firstChild.remove(); return el; }

export function toast(text, kind = '') {
  const t = h('div', { class: `toast ${kind}`, role: kind === 'bad' ? 'alert' : 'status' }, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'bad' ? 7000 : 3500);
}

export function loading(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function empty(title, text, action) {
  return h('div', { class: 'empty' }, h('strong', {}, title), text ? h('p', {}, text) : null, action || null);
}

export function errorBox(err, retry) {
  return h('div', { class: 'form-error', role: 'alert' },
    err.message || String(err), ' ',
    retry ? h('button', { class: 'btn small ghost', type: 'button', onclick: retry }, 'Try again') : null);
}

/** Shows the server's per-field errors next to the fields of `form` (by name); the
 *  rest, and the message, in the form's `.form-error` box. */
export function showErrors(form, err) {
  clearErrors(form);
  const fields = err && err.fields ? err.fields : {};
  let unplaced = [];
  for (const [name, message] of Object.entries(fields)) {
    const input = form.elements.namedItem(name);
    if (input && input.id) {
      input.setAttribute('aria-invalid', 'true');
      const note = h('div', { class: 'field-error', id: `${input.id}-error` }, message);
      input.setAttribute('aria-describedby', note.id);
      input.insertAdjacentElement('afterend', note);
    } else {
      unplaced.push(`${name}: ${message}`);
    }
  }
  const box = form.querySelector('.form-error');
  const placed = Object.keys(fields).length - unplaced.length;
  if (box) {
    const text = placed > 0 && unplaced.length === 0
      ? 'Please correct the highlighted fields.'
      : [err.message, ...unplaced].filter(Boolean).join(' · ');
    box.textContent = text;
    box.hidden = false;
  }
  const first = form.querySelector('[aria-invalid="true"]');
  if (first) first.focus();
}

export function clearErrors(form) {
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach((e) => {
    e.removeAttribute('aria-invalid');
    e.removeAttribute('aria-describedby');
  });
  const box = form.querySelector('.form-error');
  if (box) { box.hidden = true; box.textContent = ''; }
}

/** Runs `fn` with `button` showing progress; re-enables it afterwards. */
export async function busy(button, label, fn) {
  const old = button.innerHTML;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  button.replaceChildren(h('span', { class: 'spinner', 'aria-hidden': 'true' }), ` ${label}`);
  try { return await fn(); } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.innerHTML = old;
  }
}

export function field(id, label, input, hint) {
  input.id = id;
  if (!input.name) input.name = id.replace(/^f-/, '');
  return h('div', { class: 'field' }, h('label', { for: id }, label), input,
    hint ? h('div', { class: 'hint' }, hint) : null);
}

export function options(list, selected) {
  return list.map(([value, label]) => h('option', { value, selected: value === selected }, label));
}

const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat
  ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;

export function ago(iso) {
  if (!iso) return '—';
  const secs = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const abs = Math.abs(secs);
  if (!rtf) return new Date(iso).toLocaleString();
  if (abs < 45) return rtf.format(secs, 'second');
  if (abs < 2700) return rtf.format(Math.round(secs / 60), 'minute');
  if (abs < 86400 * 1.5) return rtf.format(Math.round(secs / 3600), 'hour');
  return rtf.format(Math.round(secs / 86400), 'day');
}

export function time(iso) {
  return h('time', { datetime: iso, title: iso ? new Date(iso).toLocaleString() : '' }, ago(iso));
}

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = h('textarea', { class: 'sr-only', readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
  toast(`Copied ${text}`);
}

export function pill(text, kind = '') { return h('span', { class: `pill ${kind}` }, text); }

export const statusKind = {
  queued: 'info', sending: 'info', sent: 'accent', delivered: 'ok', failed: 'bad', undelivered: 'bad',
  ready: 'ok', connecting: 'warn', initializing: 'warn', no_sim: 'bad', pin_required: 'bad',
  not_registered: 'warn', stopped: 'bad', active: 'ok', expired: 'warn', released: '',
};

export function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}
