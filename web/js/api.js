// The box's HTTP API: the session (access + refresh tokens), refresh on 401, and errors
// in the DispoSMS envelope, with their per-field details.

const KEY = 'simgate.session';
const listeners = new Map();

export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

export function emit(name, detail) {
  for (const fn of listeners.get(name) || []) {
    try { fn(detail); } catch (e) { console.error(e); }
  }
}

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
  /** Field name -> message, from `details.errors[]`. */
  get fields() {
    const out = {};
    for (const e of this.details.errors || []) {
      if (e && e.field && !out[e.field]) out[e.field] = e.message;
    }
    return out;
  }
  get offline() { return this.status === 0; }
}

let session = null;
try { session = JSON.parse(localStorage.getItem(KEY)) || null; } catch { session = null; }

function save() {
  if (session) localStorage.setItem(KEY, JSON.stringify(session));
  else localStorage.removeItem(KEY);
}

export const getSession = () => session;
export const accessToken = () => session && session.access_token;
export const isAdmin = () => !!(session && session.user && session.user.role === 'admin');

export function setSession(data) {
  session = {
    access_token: data.access_token,
    refresh_token: data.refresh_token,
    user: data.user || (session && session.user) || null,
  };
  save();
  emit('session', session);
}

/** Ends the session locally (and on the server when it can); `why` is shown on sign-in. */
export function signOut(why) {
  const old = session;
  session = null;
  save();
  if (old && old.refresh_token && !why) {
    fetch('/api/auth/logout', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: old.refresh_token }),
    }).catch(() => {});
  }
  emit('signed-out', why || '');
}

let refreshing = null;

/** Trades the refresh token for new tokens once, however many callers ask at the same time. */
export function refreshSession() {
  if (!session || !session.refresh_token) return Promise.resolve(false);
  if (refreshing) return refreshing;
  const token = session.refresh_token;
  refreshing = (async () => {
    let res;
    try {
      res = await fetch('/api/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: token }),
      });
    } catch {
      emit('network', false);
      return false; // offline: keep the session, try again later
    }
    emit('network', true);
    const body = await res.json().catch(() => null);
    if (res.ok && body && body.success) {
      setSession(body.data);
      return true;
    }
    if (res.status === 401 || res.status === 403) {
      signOut('Your session has expired. Please sign in again.');
    }
    return false;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

function query(params) {
  if (!params) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Calls `/api{path}`; resolves with the envelope's `data`, or throws an ApiError. */
export async function api(path, { method = 'GET', body, params, signal } = {}) {
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (session && session.access_token) headers.authorization = `Bearer ${session.access_token}`;
    let res;
    try {
      res = await fetch(`/api${path}${query(params)}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (e) {
      if (e && e.name === 'AbortError') throw e;
      emit('network', false);
      throw new ApiError(0, 'NETWORK', 'Cannot reach the box. Check the connection; retrying by itself.');
    }
    emit('network', true);
    let json = null;
    try { json = await res.json(); } catch { json = null; }
    if (res.status === 401 && attempt === 0 && session && !path.startsWith('/auth/')) {
      if (await refreshSession()) continue;
    }
    if (!res.ok || (json && json.success === false)) {
      const err = (json && json.error) || {};
      throw new ApiError(res.status, err.code || `HTTP_${res.status}`,
        err.message || `The box answered ${res.status}`, err.details);
    }
    return json && 'data' in json ? json.data : json;
  }
}
