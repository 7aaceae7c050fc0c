// The admin console (#/admin/<section>): a section navigation with counts
// of open reports and pending sign-ups, and one page per section. A page
// gets its own context, ended when another section is chosen or the
// console unmounts, so its refresh timers never outlive it.

import { api, qs } from '../api.js';
import { setTitle } from '../router.js';
import { state } from '../store.js';
import { h, replace, setBadge, spinner } from '../ui.js';
import * as audit from './audit.js';
import * as cluster from './cluster.js';
import { countBadge } from './format.js';
import * as jobs from './jobs.js';
import { childContext, refreshWhileVisible } from './kit.js';
import * as overview from './overview.js';
import * as reports from './reports.js';
import * as signups from './signups.js';
import * as users from './users.js';

export const SECTIONS = [
  { key: 'overview', label: 'Overview', page: overview },
  { key: 'users', label: 'Users', page: users },
  { key: 'reports', label: 'Reports', page: reports, badge: 'reports' },
  { key: 'signups', label: 'Sign-ups', page: signups, badge: 'signups' },
  { key: 'jobs', label: 'Jobs', page: jobs },
  { key: 'cluster', label: 'Cluster', page: cluster },
  { key: 'audit', label: 'Audit log', page: audit },
];

const COUNT_LIMIT = 100;
const COUNT_REFRESH_MS = 30_000;

/** The section for a route parameter; unknown or missing ones show the overview. */
export function sectionFor(key) {
  return SECTIONS.find((s) => s.key === key) || SECTIONS[0];
}

/** ctx -> the mounted console. */
const consoles = new WeakMap();

function deniedView(retry) {
  const again = h('button', { type: 'button', class: 'btn btn-secondary', testid: 'admin-check-again', text: 'Check again' });
  again.addEventListener('click', retry);
  return h(
    'section',
    { class: 'card admin-denied', testid: 'admin-denied' },
    h('h1', { text: 'Admins only' }),
    h('p', { class: 'muted', text: 'The console is for this server’s admins. Ask an admin if you need access.' }),
    h('div', { class: 'admin-denied-actions' }, h('a', { class: 'btn btn-primary', href: '#/feed', text: 'Back to the feed' }), again),
  );
}

export function mount(root, params, ctx) {
  setTitle('Admin');
  const page = h('div', { class: 'page admin-page', testid: 'admin-console' });
  root.append(page);

  const badges = {};
  const links = {};
  const tabs = SECTIONS.map((s) => {
    const badge = s.badge ? h('span', { class: 'badge admin-nav-badge', testid: `admin-count-${s.badge}`, hidden: true, text: '0' }) : null;
    if (badge) badges[s.badge] = badge;
    const a = h('a', { class: 'admin-tab', href: `#/admin/${s.key}`, testid: `admin-tab-${s.key}`, dataset: { section: s.key } }, h('span', { text: s.label }), badge);
    links[s.key] = a;
    return h('li', {}, a);
  });
  const nav = h('nav', { class: 'admin-nav', 'aria-label': 'Console sections' }, h('ul', { class: 'admin-tabs' }, tabs));
  const body = h('div', { class: 'admin-body' });
  const head = h(
    'header',
    { class: 'admin-head' },
    h('h1', {}, h('span', { class: 'admin-h1-label', text: 'Admin' }), h('span', { class: 'sr-only', text: ' console' })),
  );

  const con = { section: null, pageCtx: null, denied: false, started: false, wanted: params.section };
  consoles.set(ctx, con);

  const showDenied = () => {
    if (con.denied || !ctx.alive) return;
    con.denied = true;
    if (con.pageCtx) con.pageCtx.dispose();
    con.pageCtx = null;
    replace(page, deniedView(() => retryAccess()));
  };

  const isDenied = (e) => e && (e.status === 403 || e.code === 'forbidden');

  const counts = {
    /** Fetches both counts; false when the server refused (not an admin). */
    async refresh() {
      const [r, p] = await Promise.allSettled([
        api.get(`/api/admin/reports${qs({ status: 'open', limit: COUNT_LIMIT })}`),
        api.get(`/api/admin/users${qs({ filter: 'pending', limit: COUNT_LIMIT })}`),
      ]);
      if (!ctx.alive) return true;
      if ((r.status === 'rejected' && isDenied(r.reason)) || (p.status === 'rejected' && isDenied(p.reason))) {
        return false;
      }
      if (r.status === 'fulfilled') counts.set('reports', countBadge(r.value.items, r.value.next_cursor));
      if (p.status === 'fulfilled') counts.set('signups', countBadge(p.value.items, p.value.next_cursor));
      return true;
    },
    set(key, badge) {
      const el = badges[key];
      if (!el) return;
      setBadge(el, badge.n);
      el.textContent = badge.text || '0';
      el.setAttribute('aria-label', badge.n ? `${badge.text} ${key === 'reports' ? 'open' : 'pending'}` : '');
    },
  };

  const shared = {
    /** Counts again after a change (a report resolved, an account approved). */
    refreshCounts: () =>
      counts
        .refresh()
        .then((ok) => ok || showDenied())
        .catch(() => {}),
    /** True (and shows "Admins only") when `e` is the server's refusal. */
    denied(e) {
      if (!isDenied(e)) return false;
      showDenied();
      return true;
    },
  };

  const showSection = (key) => {
    con.wanted = key;
    const s = sectionFor(key);
    if (con.denied || !con.started) return;
    if (con.section === s.key && con.pageCtx) return;
    con.section = s.key;
    setTitle(`${s.label} · Admin`);
    for (const [k, a] of Object.entries(links)) {
      if (k === s.key) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    page.dataset.section = s.key;
    if (con.pageCtx) con.pageCtx.dispose();
    const pctx = childContext(ctx);
    con.pageCtx = pctx;
    const el = h('section', { class: ['admin-section', `admin-${s.key}`], testid: `admin-section-${s.key}`, 'aria-label': s.label });
    replace(body, el);
    s.page.render(el, pctx, shared);
    revealTab();
  };

  // On a phone the tabs scroll sideways: keep the current one in view
  // (without scrolling the page).
  const revealTab = () => {
    const a = con.section && links[con.section];
    if (!a || nav.scrollWidth <= nav.clientWidth) return;
    const ar = a.getBoundingClientRect();
    const nr = nav.getBoundingClientRect();
    const target = nav.scrollLeft + (ar.left - nr.left) - (nav.clientWidth - ar.width) / 2;
    nav.scrollLeft = Math.max(0, Math.min(target, nav.scrollWidth - nav.clientWidth));
  };
  ctx.listen(window, 'resize', revealTab);
  con.show = showSection;

  const start = () => {
    replace(page, head, nav, body);
    con.started = true;
    showSection(con.wanted);
    if (!con.loop) con.loop = refreshWhileVisible(ctx, shared.refreshCounts, COUNT_REFRESH_MS);
  };

  async function retryAccess() {
    const r = await api.get('/api/me').catch(() => null);
    if (r?.user?.admin !== true || !ctx.alive || !con.denied) return;
    con.denied = false;
    con.section = null;
    start();
    shared.refreshCounts();
  }

  // Whether this account is an admin: /api/me says so afresh (the flag
  // the app holds may predate a promotion), and a refusal is never asked
  // for (the browser would log it as an error). Without the flag, the
  // counts answer the question before any page loads.
  const decide = (admin) => {
    if (!ctx.alive) return;
    if (admin === false) {
      showDenied();
      return;
    }
    if (admin === true) {
      start();
      shared.refreshCounts();
      return;
    }
    counts
      .refresh()
      .catch(() => true)
      .then((ok) => {
        if (!ctx.alive) return;
        if (ok) start();
        else showDenied();
      });
  };
  if (state.me && state.me.admin === true) {
    decide(true);
  } else {
    page.append(spinner('Loading the console…'));
    api
      .get('/api/me')
      .then((r) => decide(typeof r?.user?.admin === 'boolean' ? r.user.admin : undefined))
      .catch(() => decide(undefined));
  }
}

export function update(params, ctx) {
  const con = consoles.get(ctx);
  if (!con?.show) return !!con?.denied;
  con.show(params.section);
  return true;
}
