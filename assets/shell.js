// The signed-in shell: the sidebar (brand, navigation with unread badges,
// settings and, for admins, the admin console; the connection indicator,
// who is signed in with their avatar, log out) around the page. On a
// phone the main links are a bar at the bottom and settings and the
// console are icons in the top bar. Above the page, at every size, a
// banner says when the connection is lost, counts down to the next try
// and offers "Retry now".

import { api } from './api.js';
import { bus } from './bus.js';
import { chat } from './chat/client.js';
import { EVENTS } from './events.js';
import { icon } from './icons.js';
import { state } from './store.js';
import { avatar, h, replace, setBadge, showNewAvatar } from './ui.js';

/** { root, main, links, notifCount, chatUnread, transport, banner, unsub }, or null. */
let shell = null;

/** A lost connection shows the banner once it has been gone this long (a restart's blip does not). */
const BANNER_GRACE_MS = 1000;
/** How often the banner's countdown is redrawn. */
const TICK_MS = 250;

let onLogout = () => {};

/** The app registers what the log out button does here. */
export function setLogoutHandler(fn) {
  onLogout = fn;
}

function navLink(key, href, iconName, label, badge) {
  return h(
    'a',
    { class: 'nav-link', href, testid: `nav-${key}`, dataset: { nav: key } },
    h('span', { class: 'nav-icon' }, icon(iconName), badge || null),
    h('span', { class: 'nav-label', text: label }),
  );
}

/** The element views are mounted in. */
export function shellMain() {
  return shell.main;
}

/** Puts the shell in `app` unless it is there already. */
export function ensureShell(app) {
  if (shell) return;
  const notifCount = h('span', { class: 'badge', testid: 'notif-count', 'aria-label': 'unread notifications', hidden: true, text: '0' });
  const chatUnread = h('span', { class: 'badge', testid: 'chat-unread', 'aria-label': 'unread messages', hidden: true, text: '0' });
  const transport = h(
    'span',
    {
      class: 'conn',
      testid: 'transport',
      role: 'status',
      dataset: { transport: state.transport.kind, state: state.transport.state },
    },
    h('span', { class: 'conn-dot', 'aria-hidden': 'true' }),
    h('span', { class: 'conn-label', text: 'Connecting…' }),
  );
  const banner = offlineBanner();
  const me = state.me;
  const whoAvatar = h('span', { class: 'whoami-avatar' }, avatar(me, 'sm'));
  const links = {
    feed: navLink('feed', '#/feed', 'home', 'Feed'),
    friends: navLink('friends', '#/friends', 'users', 'Friends'),
    chat: navLink('chat', '#/chat', 'chat', 'Chat', chatUnread),
    notifications: navLink('notifications', '#/notifications', 'bell', 'Notifications', notifCount),
    profile: navLink('profile', `#/u/${encodeURIComponent(me.username)}`, 'user', 'Profile'),
  };
  // Settings and the console: below the main links, or in the phone's top bar.
  const extra = {
    settings: navLink('settings', '#/settings', 'settings', 'Settings'),
    admin: navLink('admin', '#/admin', 'shield', 'Admin'),
  };
  extra.admin.hidden = me.admin !== true;
  const logout = h(
    'button',
    { type: 'button', class: 'btn btn-ghost btn-sm logout', testid: 'logout', onclick: () => onLogout() },
    icon('logout'),
    h('span', { class: 'logout-label', text: 'Log out' }),
  );
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const skip = (e) => {
    e.preventDefault();
    main.focus();
  };
  const root = h(
    'div',
    { class: 'shell' },
    h('a', { class: 'skip-link', href: '#main', onclick: skip, text: 'Skip to content' }),
    h(
      'header',
      { class: 'sidebar' },
      h(
        'a',
        { class: 'brand', href: '#/feed', 'aria-label': 'kith home' },
        h('img', { src: '/favicon.svg', alt: '', class: 'brand-mark', width: '28', height: '28' }),
        h('span', { class: 'brand-name', text: 'kith' }),
      ),
      h('nav', { class: 'nav', 'aria-label': 'Main' }, Object.values(links)),
      h('nav', { class: 'nav nav-extra', 'aria-label': 'Account' }, Object.values(extra)),
      h(
        'div',
        { class: 'sidebar-foot' },
        transport,
        h('a', { class: 'whoami', href: `#/u/${encodeURIComponent(me.username)}`, title: `Signed in as ${me.username}`, testid: 'whoami' },
          whoAvatar,
          h('span', { class: 'whoami-name' }, h('span', { class: 'sr-only', text: 'Signed in as ' }), me.username)),
        logout,
      ),
    ),
    h('div', { class: 'shell-main' }, banner.el, main),
    h('div', { class: 'toasts', id: 'toasts', role: 'status', 'aria-live': 'polite' }),
  );
  replace(app, root);
  shell = { root, main, links: { ...links, ...extra }, notifCount, chatUnread, transport, banner, unsub: [] };
  shell.unsub.push(() => banner.dispose());
  const showAdmin = (user) => {
    if (typeof user?.admin === 'boolean') extra.admin.hidden = !user.admin;
  };
  shell.unsub.push(bus.on(EVENTS.NOTIFICATION_COUNT, (n) => setBadge(notifCount, n)));
  shell.unsub.push(bus.on(EVENTS.CHAT_UNREAD, () => setBadge(chatUnread, chat.totalUnread())));
  shell.unsub.push(bus.on(EVENTS.TRANSPORT_CHANGED, renderTransport));
  // A new or removed profile photo shows at once, in every avatar of yours on the page.
  shell.unsub.push(bus.on(EVENTS.ME_CHANGED, (user) => {
    showNewAvatar(user);
    showAdmin(user);
  }));
  // A sign-in answers the plain user: whether they are an admin comes from /api/me.
  if (typeof me.admin !== 'boolean') {
    const mine = shell;
    api.get('/api/me', { quiet401: true }).then(({ user }) => {
      if (shell !== mine || !state.me || state.me.id !== user.id) return;
      state.me = { ...state.me, ...user };
      showAdmin(user);
    }, () => {});
  }
  setBadge(notifCount, state.notifUnread);
  setBadge(chatUnread, chat.totalUnread());
  renderTransport();
}

export function teardownShell() {
  if (!shell) return;
  for (const u of shell.unsub) u();
  shell = null;
}

/** Marks the navigation link `key` as the current page. */
export function setNavActive(key) {
  if (!shell) return;
  for (const [k, a] of Object.entries(shell.links)) {
    if (k === key) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** The transport's name, for the indicator's tooltip only. */
function transportName(kind) {
  return kind === 'webtransport' ? 'WebTransport' : kind === 'websocket' ? 'WebSocket' : '';
}

/** The indicator's words: plain ones; the transport shows only in its tooltip. */
export function connectionLabel(st) {
  if (st === 'open') return 'Connected';
  return st === 'connecting' ? 'Connecting…' : 'Offline';
}

/**
 * The banner's words while the connection is lost: { title, detail }.
 * `retryAt` (ms since the epoch) is when the next try starts.
 */
export function offlineWords(st, retryAt, now, online = true) {
  const title = online ? 'Offline' : 'Offline — no network';
  if (st === 'connecting') return { title, detail: 'connecting…' };
  if (retryAt > now) {
    const s = Math.max(1, Math.ceil((retryAt - now) / 1000));
    return { title, detail: `trying again in ${s} s` };
  }
  return { title, detail: 'trying to reconnect' };
}

/**
 * The banner above the page while the connection is lost, with a countdown
 * to the next try and "Retry now": { el, render(), dispose() }.
 */
function offlineBanner() {
  const detail = h('span', { class: 'conn-banner-detail', 'aria-hidden': 'true' });
  const title = h('strong', { class: 'conn-banner-title', text: 'Offline' });
  const retry = h('button', { type: 'button', class: 'btn btn-secondary btn-sm conn-banner-retry', testid: 'retry-now', text: 'Retry now' });
  const el = h(
    'div',
    { class: 'conn-banner', testid: 'offline-banner', role: 'status', hidden: true },
    h('span', { class: 'conn-banner-dot', 'aria-hidden': 'true' }),
    h(
      'p',
      { class: 'conn-banner-text' },
      title,
      h('span', { class: 'sr-only', text: '. kith keeps trying to reconnect.' }),
      h('span', { 'aria-hidden': 'true', text: ' — ' }),
      detail,
    ),
    retry,
  );
  /** When this outage began (0: connected, or never lost). */
  let since = 0;
  let ticker = null;
  const stopTicker = () => {
    clearInterval(ticker);
    ticker = null;
  };
  const render = () => {
    const { state: st, retryAt = 0 } = state.transport;
    const now = Date.now();
    if (st === 'open' || !state.realtime) {
      since = 0;
      stopTicker();
      el.hidden = true;
      return;
    }
    // A first connection still opening is not an outage; a lost one is.
    if (!since && st === 'closed') since = now;
    if (!since) {
      el.hidden = true;
      return;
    }
    if (!ticker) ticker = setInterval(render, TICK_MS);
    el.dataset.state = st;
    const words = offlineWords(st, retryAt, now, navigator.onLine !== false);
    if (title.textContent !== words.title) title.textContent = words.title;
    if (detail.textContent !== words.detail) detail.textContent = words.detail;
    el.hidden = now - since < BANNER_GRACE_MS;
  };
  retry.addEventListener('click', () => {
    state.realtime?.retryNow({ force: true });
    render();
  });
  return { el, render, dispose: stopTicker };
}

function renderTransport() {
  if (!shell) return;
  const { kind, state: st } = state.transport;
  const el = shell.transport;
  el.dataset.transport = kind;
  el.dataset.state = st;
  const label = connectionLabel(st);
  el.querySelector('.conn-label').textContent = label;
  const name = transportName(kind);
  el.title = name ? `${label} (${name})` : label;
  shell.banner.render();
}
