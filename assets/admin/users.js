// Accounts: search (debounced) and filter, a page at a time; per account
// ban or unban, make or revoke admin, a password reset link to hand over,
// and approve or reject for sign-ups awaiting approval.

import { api, enc, qs } from '../api.js';
import { state } from '../store.js';
import { timeEl } from '../time.js';
import { toast } from '../toast.js';
import { append, avatar, debounce, emptyState, formError, h, replace, uid } from '../ui.js';
import { expiryLabel, formatCount } from './format.js';
import { confirmDialog, linkField, markReady, pagedList, patch, refocus, segmented, tag } from './kit.js';

const FILTERS = [
  ['all', 'All'],
  ['admins', 'Admins'],
  ['banned', 'Banned'],
  ['pending', 'Pending'],
];

export const SEARCH_DEBOUNCE_MS = 300;

/** The tags an account shows: admin, banned, pending, you. */
export function userTags(u, meUsername) {
  const out = [];
  if (meUsername && u.user?.username === meUsername) out.push(['You', 'info']);
  if (u.admin) out.push(['Admin', 'accent']);
  if (u.banned) out.push(['Banned', 'danger']);
  if (u.status === 'pending') out.push(['Pending', 'warn']);
  return out;
}

/**
 * One account's row with its actions; `onChange(updated)` replaces it.
 * Shared with the sign-ups page (approve and reject).
 */
export function userRow(u, { onGone, shared }) {
  const err = formError('row-error');
  const linkSlot = h('div', { class: 'admin-row-extra' });
  const li = h('li', { class: 'admin-row', testid: 'admin-user', dataset: { row: '1', userId: u.user.id, username: u.user.username } });
  const me = state.me?.username;
  const self = me && u.user.username === me;

  // A button for one action; with `ask`, confirmed first (before the
  // button is disabled, so the focus can come back to it on cancel).
  const act = (label, cls, testid, fn, ask) => {
    const b = h('button', { type: 'button', class: `btn btn-sm ${cls}`, testid, text: label });
    b.addEventListener('click', async () => {
      err.clear();
      if (ask && !(await confirmDialog(ask))) return;
      b.disabled = true;
      const afterRemoval = refocus(li, b);
      try {
        await fn();
      } catch (e) {
        if (!shared.denied(e)) err.show(e);
      } finally {
        b.disabled = false;
      }
      // The row was redrawn or went away: keep the focus near.
      if (li.replacedBy) refocus(li, b, { fresh: li.replacedBy });
      else if (!li.isConnected) afterRemoval();
    });
    return b;
  };

  const redraw = (next) => {
    const fresh = userRow(next, { onGone, shared });
    li.replaceWith(fresh);
    li.replacedBy = fresh;
    return fresh;
  };

  const name = u.user.display_name || u.user.username;
  const actions = [];
  if (u.status === 'pending') {
    actions.push(
      act('Approve', 'btn-primary', 'approve-user', async () => {
        await api.post(`/api/admin/users/${enc(u.user.id)}/approve`);
        toast(`${u.user.username} can sign in now.`);
        li.remove();
        onGone?.();
        shared.refreshCounts();
      }),
      act('Reject', 'btn-secondary', 'reject-user', async () => {
        await api.post(`/api/admin/users/${enc(u.user.id)}/reject`);
        toast(`${u.user.username}’s sign-up was rejected.`);
        li.remove();
        onGone?.();
        shared.refreshCounts();
      }, {
          title: `Reject ${u.user.username}?`,
          body: 'Their sign-up is deleted; they can apply again with a new one.',
          confirm: 'Reject',
        }),
    );
  } else {
    if (!self) {
      actions.push(
        u.banned
          ? act('Unban', 'btn-secondary', 'unban-user', async () => {
              redraw(await patch(`/api/admin/users/${enc(u.user.id)}`, { banned: false }));
              toast(`${u.user.username} is no longer banned.`);
            })
          : act('Ban', 'btn-danger-soft', 'ban-user', async () => {
              redraw(await patch(`/api/admin/users/${enc(u.user.id)}`, { banned: true }));
              toast(`${u.user.username} is banned.`);
            }, {
                title: `Ban ${u.user.username}?`,
                body: `${name} is signed out everywhere and cannot sign in again until unbanned.`,
                confirm: 'Ban',
              }),
      );
      actions.push(
        u.admin
          ? act('Revoke admin', 'btn-secondary', 'revoke-admin', async () => {
              redraw(await patch(`/api/admin/users/${enc(u.user.id)}`, { admin: false }));
              toast(`${u.user.username} is no longer an admin.`);
            }, {
                title: `Revoke ${u.user.username}’s admin rights?`,
                body: 'They lose access to this console at once.',
                confirm: 'Revoke admin',
              })
          : act('Make admin', 'btn-secondary', 'make-admin', async () => {
              redraw(await patch(`/api/admin/users/${enc(u.user.id)}`, { admin: true }));
              toast(`${u.user.username} is an admin now.`);
            }),
      );
    }
    actions.push(
      act('Reset link', 'btn-ghost', 'reset-link', async () => {
        const r = await api.post(`/api/admin/users/${enc(u.user.id)}/reset-link`);
        replace(
          linkSlot,
          h('p', { class: 'small muted' }, `Password reset link for ${u.user.username} — `, h('span', { testid: 'reset-expiry', text: expiryLabel(r.expires_at) }), '. Anyone with it can set a new password; hand it over privately.'),
          linkField(r.url, { label: `Password reset link for ${u.user.username}`, testid: 'reset-url' }),
        );
      }),
    );
  }

  const meta = [
    `${formatCount(u.post_count)} ${u.post_count === 1 ? 'post' : 'posts'}`,
    u.email ? u.email : 'no email',
    u.invited_with ? `invite ${u.invited_with}` : null,
  ].filter(Boolean);

  append(li, [
    h(
      'div',
      { class: 'admin-row-main' },
      avatar(u.user, 'md'),
      h(
        'div',
        { class: 'admin-row-id' },
        h('div', { class: 'admin-row-title' }, h('a', { class: 'admin-who-name', href: `#/u/${enc(u.user.username)}`, text: name }), userTags(u, me).map(([t, tone]) => tag(t, tone, 'user-tag'))),
        h('p', { class: 'admin-row-meta muted small' }, `@${u.user.username} · ${meta.join(' · ')} · joined `, timeEl(u.created_at)),
        u.status === 'pending' && u.signup_reason ? h('blockquote', { class: 'admin-quote', testid: 'signup-reason', text: u.signup_reason }) : null,
      ),
      h('div', { class: 'admin-row-actions' }, actions),
    ),
    err.el,
    linkSlot,
  ]);
  return li;
}

export function render(el, ctx, shared) {
  let filter = 'all';
  let q = '';
  const searchId = uid('user-search');
  const search = h('input', { id: searchId, class: 'input', type: 'search', placeholder: 'Search by name or username', autocomplete: 'off', spellcheck: 'false', testid: 'user-search' });
  const list = pagedList(ctx, {
    testid: 'user-list',
    shared,
    onReady: () => markReady(el),
    fetchPage: (cursor) => api.get(`/api/admin/users${qs({ q, filter, limit: 25, cursor })}`),
    row: (u) => userRow(u, { shared, onGone: () => list.checkEmpty() }),
    empty: () => emptyState(q ? 'No accounts match.' : 'No accounts here.', q ? 'Try part of a username or display name.' : null),
  });
  const seg = segmented('Show', FILTERS, filter, (v) => {
    filter = v;
    list.reload();
  }, 'user-filter');
  const run = debounce(() => {
    const next = search.value.trim();
    if (next === q) return;
    q = next;
    list.reload();
  }, SEARCH_DEBOUNCE_MS);
  search.addEventListener('input', run);
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      run.cancel();
      q = search.value.trim();
      list.reload();
    }
  });
  ctx.cleanup(() => run.cancel());

  el.append(
    h('div', { class: 'admin-toolbar' },
      h('div', { class: 'search-box admin-search' }, h('label', { class: 'sr-only', for: searchId, text: 'Search accounts' }), search),
      seg.el),
    list.el,
  );
  list.reload();
}
