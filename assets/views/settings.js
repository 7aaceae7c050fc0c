// Settings (#/settings/<section>): your profile, password, signed-in
// devices, email address, notifications, muted people and invites. Each
// section is its own module in ../settings/, drawn in its own context so
// that leaving it undoes its listeners. On a wide screen the sections are a list
// beside the page; on a phone, a strip of tabs above it.

import { api } from '../api.js';
import { authConfig } from '../auth-flow.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { setTitle } from '../router.js';
import * as email from '../settings/email.js';
import * as invites from '../settings/invites.js';
import { childContext } from '../settings/kit.js';
import * as mutes from '../settings/mutes.js';
import * as notifications from '../settings/notifications.js';
import * as profile from '../settings/profile.js';
import * as security from '../settings/security.js';
import * as sessions from '../settings/sessions.js';
import { state } from '../store.js';
import { h, messageOf, replace, spinner } from '../ui.js';

export const SECTIONS = [
  { key: 'profile', label: 'Profile', icon: 'user', page: profile },
  { key: 'security', label: 'Password', icon: 'key', page: security },
  { key: 'sessions', label: 'Devices', icon: 'devices', page: sessions },
  { key: 'email', label: 'Email', icon: 'mail', page: email },
  { key: 'notifications', label: 'Notifications', icon: 'bell', page: notifications },
  { key: 'mutes', label: 'Muted', icon: 'mute', page: mutes },
  { key: 'invites', label: 'Invites', icon: 'ticket', page: invites, shown: (me, config) => !!me.admin || !!config.invites_by_users },
];

/** The section for a route argument: a known key, else the profile. */
export function sectionKey(arg) {
  return SECTIONS.some((s) => s.key === arg) ? arg : 'profile';
}

/** ctx -> the mounted page's `show(section)`. */
const pages = new WeakMap();

export function mount(root, params, ctx) {
  setTitle('Settings');
  const body = h('div', { class: 'settings-body' });
  const list = h('ul', { class: 'settings-tabs' });
  const nav = h('nav', { class: 'settings-nav', 'aria-label': 'Settings sections' }, list);
  const page = h('div', { class: 'page page-settings', testid: 'settings' },
    h('header', { class: 'page-head' }, h('h1', { text: 'Settings' })),
    h('div', { class: 'settings-layout' }, nav, body));
  root.append(page);
  body.append(spinner('Loading your settings…'));

  const shared = { me: state.me, config: { signup: 'open', mail: false, invites_by_users: false } };
  const links = {};
  let current = null;
  let sectionCtx = null;
  let wanted = params.section;
  let ready = false;

  const drawTabs = () => {
    replace(list, SECTIONS.filter((s) => !s.shown || s.shown(shared.me, shared.config)).map((s) => {
      const a = h('a', { class: 'settings-tab', href: `#/settings/${s.key}`, testid: `settings-tab-${s.key}` },
        icon(s.icon), h('span', { text: s.label }));
      links[s.key] = a;
      return h('li', {}, a);
    }));
  };

  const show = (key) => {
    wanted = key;
    if (!ready) return;
    const s = SECTIONS.find((x) => x.key === key) || SECTIONS[0];
    if (current === s.key && sectionCtx) return;
    current = s.key;
    setTitle(`${s.label} · Settings`);
    for (const [k, a] of Object.entries(links)) {
      if (k === s.key) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (sectionCtx) sectionCtx.dispose();
    sectionCtx = childContext(ctx);
    const el = h('section', { class: 'settings-section', testid: `settings-section-${s.key}`, 'aria-label': s.label, tabindex: '-1' });
    replace(body, el);
    s.page.render(el, sectionCtx, shared);
    // On a phone the tabs scroll sideways: keep the current one in view.
    const a = links[s.key];
    if (a && nav.scrollWidth > nav.clientWidth) {
      nav.scrollLeft = Math.max(0, a.offsetLeft - (nav.clientWidth - a.offsetWidth) / 2);
    }
  };
  pages.set(ctx, (key) => {
    show(key);
    // Moving between sections keeps the keyboard in the page.
    if (ready) body.firstElementChild?.focus({ preventScroll: true });
  });

  // Another section (or the avatar) changed you: keep the shared copy fresh.
  ctx.on(EVENTS.ME_CHANGED, (me) => {
    shared.me = { ...shared.me, ...me };
  });

  Promise.all([api.get('/api/me'), authConfig()]).then(([res, config]) => {
    if (!ctx.alive) return;
    shared.me = res.user;
    shared.config = config;
    if (state.me && state.me.id === res.user.id) {
      state.me = { ...state.me, ...res.user };
      bus.emit(EVENTS.ME_CHANGED, state.me);
    }
    ready = true;
    drawTabs();
    show(wanted);
  }, (e) => {
    if (!ctx.alive) return;
    replace(body, h('p', { class: 'form-error', role: 'alert', text: messageOf(e) }));
  });
}

export function update(params, ctx) {
  const show = pages.get(ctx);
  if (!show) return false;
  show(params.section);
  return true;
}
