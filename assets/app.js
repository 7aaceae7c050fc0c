// Boot, hash router and the signed-in shell.

import { api, setUnauthorizedHandler } from './api.js';
import { Realtime } from './realtime.js';
import {
  bus, state, chat, resetState, clearPresence, setPresence, setNotifUnread,
  refreshNotifCount, setMedia,
} from './store.js';
import { h, icon, setBadge, replace } from './ui.js';
import { toast } from './toast.js';
import { navigate, setRouteHandler } from './router.js';
import * as auth from './views/auth.js';
import * as feed from './views/feed.js';
import * as profile from './views/profile.js';
import * as friends from './views/friends.js';
import * as chatView from './views/chat.js';
import * as notifications from './views/notifications.js';
import * as single from './views/post-page.js';

const app = document.getElementById('app');

// ---- routes ---------------------------------------------------------------

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const parts = raw.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [head, arg] = parts;
  switch (head) {
    case 'login': return { name: 'login', view: auth.login, public: true };
    case 'signup': return { name: 'signup', view: auth.signup, public: true };
    case 'feed': return { name: 'feed', view: feed, nav: 'feed' };
    case 'u': return arg ? { name: 'profile', view: profile, params: { username: arg }, nav: state.me && arg === state.me.username ? 'profile' : null } : null;
    case 'friends': return { name: 'friends', view: friends, nav: 'friends' };
    case 'chat': return { name: 'chat', view: chatView, params: { id: arg || null }, nav: 'chat' };
    case 'notifications': return { name: 'notifications', view: notifications, nav: 'notifications' };
    case 'post': return arg ? { name: 'post', view: single, params: { id: arg }, nav: null } : null;
    default: return null;
  }
}

// ---- mounted view ---------------------------------------------------------

let current = null; // { route, view, ctx, root }

function makeCtx() {
  const cleanups = [];
  const ctx = {
    alive: true,
    on(type, fn) {
      cleanups.push(bus.on(type, fn));
    },
    listen(target, type, fn, opts) {
      target.addEventListener(type, fn, opts);
      cleanups.push(() => target.removeEventListener(type, fn, opts));
    },
    interval(fn, ms) {
      const t = setInterval(fn, ms);
      cleanups.push(() => clearInterval(t));
      return t;
    },
    timeout(fn, ms) {
      const t = setTimeout(fn, ms);
      cleanups.push(() => clearTimeout(t));
      return t;
    },
    cleanup(fn) {
      cleanups.push(fn);
    },
    navigate,
    dispose() {
      ctx.alive = false;
      for (const fn of cleanups.splice(0)) {
        try {
          fn();
        } catch {
          // ignore
        }
      }
    },
  };
  return ctx;
}

function unmount() {
  if (!current) return;
  current.ctx.dispose();
  current = null;
}

function route() {
  const r = parseRoute();
  const isSignedIn = !!state.me;
  if (!r) {
    navigate(isSignedIn ? '#/feed' : '#/login', { replace: true });
    return;
  }
  if (!isSignedIn && !r.public) {
    navigate('#/login', { replace: true });
    return;
  }
  if (isSignedIn && r.public) {
    navigate('#/feed', { replace: true });
    return;
  }
  // Same view, new parameters (e.g. another conversation): let it adapt.
  if (current && current.route.view === r.view && r.view.update && current.ctx.alive) {
    if (r.view.update(r.params || {}, current.ctx) !== false) {
      current.route = r;
      setNavActive(r.nav);
      return;
    }
  }
  unmount();
  let root;
  if (r.public) {
    teardownShell();
    root = h('main', { id: 'main', class: 'auth-main' });
    replace(app, root);
  } else {
    ensureShell();
    root = shell.main;
    replace(root);
    setNavActive(r.nav);
  }
  const ctx = makeCtx();
  current = { route: r, ctx, root };
  document.body.dataset.route = r.name;
  try {
    r.view.mount(root, r.params || {}, ctx);
  } catch (e) {
    replace(root, h('h1', { text: 'Something went wrong' }), h('p', { text: String(e && e.message) }));
    throw e;
  }
  // Move focus to the new page unless the view focused something itself.
  if (!r.public && !root.contains(document.activeElement)) root.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

// ---- shell ----------------------------------------------------------------

let shell = null;

function navLink(key, href, iconName, label, badge) {
  const a = h('a', { class: 'nav-link', href, testid: `nav-${key}`, dataset: { nav: key } },
    h('span', { class: 'nav-icon' }, icon(iconName), badge || null),
    h('span', { class: 'nav-label', text: label }));
  return a;
}

function ensureShell() {
  if (shell) return;
  const notifCount = h('span', { class: 'badge', testid: 'notif-count', 'aria-label': 'unread notifications', hidden: true, text: '0' });
  const chatUnread = h('span', { class: 'badge', testid: 'chat-unread', 'aria-label': 'unread messages', hidden: true, text: '0' });
  const transport = h('span', {
    class: 'conn',
    testid: 'transport',
    role: 'status',
    dataset: { transport: state.transport.kind, state: state.transport.state },
  }, h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), h('span', { class: 'conn-label', text: 'Connecting…' }));
  const me = state.me;
  const links = {
    feed: navLink('feed', '#/feed', 'home', 'Feed'),
    friends: navLink('friends', '#/friends', 'users', 'Friends'),
    chat: navLink('chat', '#/chat', 'chat', 'Chat', chatUnread),
    notifications: navLink('notifications', '#/notifications', 'bell', 'Alerts', notifCount),
    profile: navLink('profile', `#/u/${encodeURIComponent(me.username)}`, 'user', 'Profile'),
  };
  const logout = h('button', { type: 'button', class: 'btn btn-ghost btn-sm logout', testid: 'logout', onclick: doLogout },
    icon('logout'), h('span', { class: 'logout-label', text: 'Log out' }));
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const root = h('div', { class: 'shell' },
    h('a', { class: 'skip-link', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } , text: 'Skip to content' }),
    h('header', { class: 'sidebar' },
      h('a', { class: 'brand', href: '#/feed', 'aria-label': 'kith home' },
        h('img', { src: '/favicon.svg', alt: '', class: 'brand-mark', width: '28', height: '28' }),
        h('span', { class: 'brand-name', text: 'kith' })),
      h('nav', { class: 'nav', 'aria-label': 'Main' }, Object.values(links)),
      h('div', { class: 'sidebar-foot' },
        transport,
        h('span', { class: 'whoami', title: `Signed in as ${me.username}` }, h('span', { class: 'sr-only', text: 'Signed in as ' }), me.username),
        logout)),
    main,
    h('div', { class: 'toasts', id: 'toasts', role: 'status', 'aria-live': 'polite' }));
  replace(app, root);
  shell = { root, main, links, notifCount, chatUnread, transport, unsub: [] };
  shell.unsub.push(bus.on('notif-count', (n) => setBadge(notifCount, n)));
  shell.unsub.push(bus.on('chat:unread', () => setBadge(chatUnread, chat.totalUnread())));
  shell.unsub.push(bus.on('transport', renderTransport));
  setBadge(notifCount, state.notifUnread);
  setBadge(chatUnread, chat.totalUnread());
  renderTransport();
}

function teardownShell() {
  if (!shell) return;
  for (const u of shell.unsub) u();
  shell = null;
}

function setNavActive(key) {
  if (!shell) return;
  for (const [k, a] of Object.entries(shell.links)) {
    if (k === key) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function renderTransport() {
  if (!shell) return;
  const { kind, state: st } = state.transport;
  const el = shell.transport;
  el.dataset.transport = kind;
  el.dataset.state = st;
  const name = kind === 'webtransport' ? 'WebTransport' : kind === 'websocket' ? 'WebSocket' : '';
  const label = st === 'open' ? `Live${name ? ` · ${name}` : ''}` : st === 'connecting' ? 'Connecting…' : 'Offline — reconnecting';
  el.querySelector('.conn-label').textContent = label;
  el.title = label;
}

// ---- realtime -------------------------------------------------------------

let chatLoading = null;
let helloCount = 0;

function onFrame(f) {
  switch (f.type) {
    case '__connected':
      // A new connection: presence is re-announced after hello.
      clearPresence();
      break;
    case 'hello':
      helloCount += 1;
      onHello(helloCount > 1);
      break;
    case 'presence':
      setPresence(f.user, f.status === 'online');
      break;
    case 'message':
      chat.onMessageFrame(f);
      break;
    case 'ack':
      chat.onAck(f);
      break;
    case 'synced':
      chat.onSynced(f);
      break;
    case 'typing':
      chat.onTyping(f);
      break;
    case 'read':
      chat.onRead(f);
      break;
    case 'notification': {
      const n = { ...f };
      delete n.type;
      if (!n.read) setNotifUnread(state.notifUnread + 1);
      bus.emit('notification', n);
      if ((n.kind === 'like' || n.kind === 'comment') && n.subject_id) bus.emit('post:stale', { id: n.subject_id, kind: n.kind });
      if (n.kind === 'friend_request' || n.kind === 'friend_accepted') bus.emit('friends:changed', n);
      if (n.kind === 'friend_accepted') bus.emit('friendship:new');
      if (n.kind === 'message' && n.subject_id && !chat.conv(n.subject_id)) chat.refreshSoon();
      break;
    }
    case 'media': {
      const m = { ...f };
      delete m.type;
      setMedia(m);
      break;
    }
    case 'error':
      bus.emit('rt:error', f);
      if (f.code === 'rate_limited' || f.code === 'unavailable' || f.code === 'forbidden' || f.code === 'invalid') {
        toast(f.message || 'The server could not handle that.', 'error');
      }
      break;
    default:
      break;
  }
}

async function onHello(isReconnect) {
  if (chatLoading) {
    try {
      await chatLoading;
    } catch {
      // sync what we know
    }
  }
  chat.resync();
  bus.emit('realtime:open', { reconnect: isReconnect });
  if (isReconnect) {
    refreshNotifCount();
    chat.load().catch(() => {});
  }
}

function startRealtime() {
  if (state.realtime) return;
  helloCount = 0;
  state.realtime = new Realtime({
    onFrame,
    onStatus: (kind, st) => {
      state.transport = { kind, state: st };
      bus.emit('transport', state.transport);
    },
    onClose: () => {
      clearPresence();
      bus.emit('realtime:closed');
    },
  });
  state.realtime.start();
}

function stopRealtime() {
  if (!state.realtime) return;
  state.realtime.stop();
  state.realtime = null;
  state.transport = { kind: 'none', state: 'closed' };
}

// ---- session --------------------------------------------------------------

// Whether this browser was signed in when last seen. Without it the boot
// skips GET /api/me, whose 401 the browser would log as an error.
const SESSION_HINT = 'kith.session';

function setSessionHint(on) {
  try {
    if (on) localStorage.setItem(SESSION_HINT, '1');
    else localStorage.removeItem(SESSION_HINT);
  } catch {
    // storage unavailable: always ask the server
  }
}

function sessionHint() {
  try {
    return localStorage.getItem(SESSION_HINT) === '1';
  } catch {
    return true;
  }
}

/** Called once signed in (boot, login or signup). */
function signedIn(user) {
  state.me = user;
  setSessionHint(true);
  chatLoading = chat.load().catch(() => {});
  refreshNotifCount();
  startRealtime();
}

function signedOut() {
  setSessionHint(false);
  unmount();
  stopRealtime();
  teardownShell();
  resetState();
}

async function doLogout() {
  try {
    await api.post('/api/auth/logout');
  } catch {
    // signed out locally either way
  }
  signedOut();
  navigate('#/login');
}

// Presence is only announced when a connection opens: reconnect to learn
// a new friend's.
bus.on('friendship:new', () => {
  if (state.realtime) state.realtime.refresh();
});

bus.on('auth:signed-in', (user) => {
  signedIn(user);
  navigate('#/feed');
});

// The account is gone (deleted from its profile page).
bus.on('auth:signed-out', () => {
  signedOut();
  navigate('#/login', { replace: true });
});

setUnauthorizedHandler(() => {
  if (!state.me) return;
  signedOut();
  navigate('#/login', { replace: true });
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && chat.active) chat.markReadIfVisible(chat.active);
});

async function boot() {
  if (sessionHint()) {
    try {
      const { user } = await api.get('/api/me', { quiet401: true });
      signedIn(user);
    } catch (e) {
      state.me = null;
      if (e && e.status === 401) setSessionHint(false);
    }
  }
  setRouteHandler(route);
  window.addEventListener('hashchange', route);
  route();
}

boot();
