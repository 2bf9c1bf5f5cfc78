// The shell: routes, navigation, theme, the live connection and its banner.

import { api, accessToken, getSession, isAdmin, on, refreshSession, signOut } from './api.js';
import { Live } from './socket.js';
import { clear, h, toast } from './ui.js';

const ROUTES = {
  '/login': { load: () => import('./pages/login.js'), title: 'Sign in', public: true },
  '/dashboard': { load: () => import('./pages/dashboard.js'), title: 'Dashboard', admin: true, nav: 'Dashboard' },
  '/inbox': { load: () => import('./pages/inbox.js'), title: 'Inbox', nav: 'Inbox' },
  '/numbers': { load: () => import('./pages/numbers.js'), title: 'Numbers', nav: 'Numbers' },
  '/send': { load: () => import('./pages/send.js'), title: 'Send', admin: true, nav: 'Send' },
  '/admin': { load: () => import('./pages/admin.js'), title: 'Admin', admin: true, nav: 'Admin' },
};

const main = document.getElementById('main');
const banner = document.getElementById('banner');
const liveEl = document.getElementById('live');
let cleanup = null;
let unread = 0;
let signedOutReason = '';

const live = new Live({
  token: accessToken,
  refresh: refreshSession,
  onState: (state, detail) => {
    liveEl.className = `live ${state === 'online' ? 'on' : state === 'offline' ? 'off' : ''}`;
    liveEl.querySelector('.live-label').textContent = state === 'online' ? 'live' : state;
    liveEl.setAttribute('aria-label', `Live updates: ${state}`);
    if (state === 'offline') {
      showBanner('Connection to the box lost. Reconnecting…', '');
    } else if (state === 'online') {
      if (detail === 'reconnected' || !banner.hidden) {
        showBanner('Reconnected.', 'ok', 2500);
        emitReconnect();
      }
    }
  },
});

const reconnectListeners = new Set();
function emitReconnect() {
  refreshUnread();
  for (const fn of reconnectListeners) fn();
}

let bannerTimer;
function showBanner(text, kind, hideAfter) {
  clearTimeout(bannerTimer);
  banner.textContent = text;
  banner.className = `banner ${kind}`;
  banner.hidden = false;
  if (hideAfter) bannerTimer = setTimeout(() => { banner.hidden = true; }, hideAfter);
}

// Requests that cannot reach the box say so; the first that can clears it.
let networkDown = false;
on('network', (up) => {
  if (!up && !networkDown) {
    networkDown = true;
    showBanner('Cannot reach the box. Retrying…', '');
  } else if (up && networkDown) {
    networkDown = false;
    if (live.state === 'online' || live.stopped) showBanner('Reconnected.', 'ok', 2500);
  }
});

on('signed-out', (why) => {
  signedOutReason = why;
  live.stop();
  navigate('/login', true);
});

export function navigate(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

export function setUnread(n) {
  unread = Math.max(0, n | 0);
  const b = document.querySelector('#nav a[href="/inbox"] .badge');
  if (b) {
    b.textContent = unread > 99 ? '99+' : String(unread);
    b.hidden = unread === 0;
    b.setAttribute('aria-label', `${unread} unread`);
  }
}

function renderNav(current) {
  const nav = document.getElementById('nav');
  clear(nav);
  for (const [path, r] of Object.entries(ROUTES)) {
    if (!r.nav || (r.admin && !isAdmin())) continue;
    const a = h('a', { href: path, 'data-link': true, 'aria-current': path === current ? 'page' : null }, r.nav);
    if (path === '/inbox') a.append(h('span', { class: 'badge', hidden: unread === 0 }, String(unread)));
    nav.append(a);
  }
}

async function route() {
  let path = location.pathname.replace(/\/+$/, '') || '/';
  const signedIn = !!getSession();
  if (!signedIn && path !== '/login') {
    history.replaceState(null, '', '/login');
    path = '/login';
  }
  if (signedIn && (path === '/' || path === '/login' || !ROUTES[path])) {
    path = isAdmin() ? '/dashboard' : '/inbox';
    history.replaceState(null, '', path);
  }
  let r = ROUTES[path];
  if (r.admin && !isAdmin()) {
    path = '/inbox';
    history.replaceState(null, '', path);
    r = ROUTES[path];
  }
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } cleanup = null; }
  reconnectListeners.clear();
  document.title = `${r.title} · simgate`;
  document.getElementById('topbar').hidden = !!r.public;
  if (!r.public) {
    renderNav(path);
    live.start();
  }
  clear(main);
  const mod = await r.load();
  const ctx = {
    live,
    navigate,
    setUnread,
    onReconnect: (fn) => reconnectListeners.add(fn),
    signedOutReason: () => { const w = signedOutReason; signedOutReason = ''; return w; },
  };
  cleanup = (await mod.render(main, ctx)) || null;
  main.focus({ preventScroll: true });
}

// Links inside the app are handled here, without reloading.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  if (a.getAttribute('href') !== location.pathname) navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', route);

// Theme: automatic (the system's), light or dark; remembered.
const THEMES = ['auto', 'light', 'dark'];
const ICONS = { auto: '◐', light: '☀', dark: '☾' };
function applyTheme(t) {
  if (t === 'auto') document.documentElement.removeAttribute('data-theme');
  else document.documentElement.setAttribute('data-theme', t);
  const btn = document.getElementById('theme');
  btn.textContent = ICONS[t];
  btn.setAttribute('aria-label', `Theme: ${t === 'auto' ? 'automatic' : t}. Change theme`);
  btn.title = `Theme: ${t}`;
}
let theme = localStorage.getItem('simgate.theme') || 'auto';
applyTheme(theme);
document.getElementById('theme').addEventListener('click', () => {
  theme = THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
  localStorage.setItem('simgate.theme', theme);
  applyTheme(theme);
});
document.getElementById('logout').addEventListener('click', () => signOut());

// Unread count for the badge, kept current by live events.
live.on('new_message', () => setUnread(unread + 1));
export async function refreshUnread() {
  try {
    const data = isAdmin()
      ? await api('/admin/messages', { params: { limit: 1 } })
      : await api('/messages', { params: { limit: 1 } });
    setUnread(data.unread_count);
  } catch { /* shown elsewhere */ }
}
live.on('system_notification', (n) => toast(`${n.title}: ${n.message}`, n.severity === 'error' || n.severity === 'critical' ? 'bad' : ''));
on('session', () => { if (!live.stopped && !live.ws && live.state !== 'online') live.open(); });

route().then(() => { if (getSession()) refreshUnread(); });
