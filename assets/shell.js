// The signed-in shell: the sidebar (brand, navigation with unread badges,
// settings and, for admins, the admin console; the connection indicator,
// who is signed in with their avatar, log out) around the page. On a
// phone the main links are a bar at the bottom and settings and the
// console are icons in the top bar.

import { api } from './api.js';
import { bus } from './bus.js';
import { chat } from './chat/client.js';
import { EVENTS } from './events.js';
import { icon } from './icons.js';
import { state } from './store.js';
import { avatar, h, replace, setBadge } from './ui.js';

/** { root, main, links, notifCount, chatUnread, transport, unsub }, or null. */
let shell = null;

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
  const me = state.me;
  const whoAvatar = h('span', { class: 'whoami-avatar' }, avatar(me, 'sm'));
  const links = {
    feed: navLink('feed', '#/feed', 'home', 'Feed'),
    friends: navLink('friends', '#/friends', 'users', 'Friends'),
    chat: navLink('chat', '#/chat', 'chat', 'Chat', chatUnread),
    notifications: navLink('notifications', '#/notifications', 'bell', 'Alerts', notifCount),
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
    main,
    h('div', { class: 'toasts', id: 'toasts', role: 'status', 'aria-live': 'polite' }),
  );
  replace(app, root);
  shell = { root, main, links: { ...links, ...extra }, notifCount, chatUnread, transport, unsub: [] };
  const showAdmin = (user) => {
    if (typeof user?.admin === 'boolean') extra.admin.hidden = !user.admin;
  };
  shell.unsub.push(bus.on(EVENTS.NOTIFICATION_COUNT, (n) => setBadge(notifCount, n)));
  shell.unsub.push(bus.on(EVENTS.CHAT_UNREAD, () => setBadge(chatUnread, chat.totalUnread())));
  shell.unsub.push(bus.on(EVENTS.TRANSPORT_CHANGED, renderTransport));
  // A new or removed profile photo shows at once.
  shell.unsub.push(bus.on(EVENTS.ME_CHANGED, (user) => {
    replace(whoAvatar, avatar(user, 'sm'));
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

function transportLabel(kind, st) {
  const name = kind === 'webtransport' ? 'WebTransport' : kind === 'websocket' ? 'WebSocket' : '';
  if (st === 'open') return `Live${name ? ` · ${name}` : ''}`;
  return st === 'connecting' ? 'Connecting…' : 'Offline — reconnecting';
}

function renderTransport() {
  if (!shell) return;
  const { kind, state: st } = state.transport;
  const el = shell.transport;
  el.dataset.transport = kind;
  el.dataset.state = st;
  const label = transportLabel(kind, st);
  el.querySelector('.conn-label').textContent = label;
  el.title = label;
}
