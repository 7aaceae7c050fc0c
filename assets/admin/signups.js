// Sign-ups: accounts awaiting approval (approve or reject, with what they
// wrote), and invites (create with a number of uses and an expiry, copy
// the link, revoke).

import { api, enc, qs } from '../api.js';
import { timeEl } from '../time.js';
import { toast } from '../toast.js';
import { append, emptyState, formError, h, spinner, uid } from '../ui.js';
import { expiryLabel } from './format.js';
import { confirmDialog, linkField, markReady, pagedList, refocus, tag } from './kit.js';
import { userRow } from './users.js';

export const EXPIRY_CHOICES = [
  [24, '1 day'],
  [168, '7 days'],
  [720, '30 days'],
  [8760, '1 year'],
];

/** An invite's state: revoked, used up, expired or usable. */
export function inviteState(inv, now = Date.now()) {
  if (inv.revoked) return 'revoked';
  if (inv.max_uses && inv.uses >= inv.max_uses) return 'used';
  if (inv.expires_at && Date.parse(inv.expires_at) <= now) return 'expired';
  return 'active';
}

const STATE_TAG = { revoked: ['Revoked', 'danger'], used: ['Used up', 'muted'], expired: ['Expired', 'muted'], active: ['Active', 'ok'] };

function inviteRow(inv, shared) {
  const err = formError('row-error');
  const st = inviteState(inv);
  const li = h('li', { class: 'admin-row invite', testid: 'invite', dataset: { row: '1', code: inv.code, state: st } });
  const revoke = h('button', { type: 'button', class: 'btn btn-sm btn-secondary', testid: 'revoke-invite', text: 'Revoke' });
  revoke.addEventListener('click', async () => {
    err.clear();
    const ok = await confirmDialog({ title: 'Revoke this invite?', body: 'Its link stops working at once. Accounts already made with it stay.', confirm: 'Revoke' });
    if (!ok) return;
    revoke.disabled = true;
    try {
      await api.del(`/api/invites/${enc(inv.code)}`);
      const fresh = inviteRow({ ...inv, revoked: true }, shared);
      li.replaceWith(fresh);
      refocus(li, revoke, { fresh });
      toast('Invite revoked.');
    } catch (e) {
      revoke.disabled = false;
      if (!shared.denied(e)) err.show(e);
    }
  });
  const [label, tone] = STATE_TAG[st];
  append(li, [
    h(
      'div',
      { class: 'admin-row-main' },
      h(
        'div',
        { class: 'admin-row-id' },
        h('div', { class: 'admin-row-title' }, h('code', { class: 'invite-code', text: inv.code }), tag(label, tone, 'invite-state')),
        h(
          'p',
          { class: 'admin-row-meta muted small' },
          h('span', { testid: 'invite-uses', text: `${inv.uses} of ${inv.max_uses} ${inv.max_uses === 1 ? 'use' : 'uses'}` }),
          ' · ',
          st === 'revoked' ? 'revoked' : expiryLabel(inv.expires_at),
          ' · made ',
          timeEl(inv.created_at),
          inv.created_by ? ` by ${inv.created_by.username}` : null,
        ),
      ),
      st === 'active' ? h('div', { class: 'admin-row-actions' }, revoke) : null,
    ),
    st === 'active' ? linkField(inv.url, { label: `Invite link ${inv.code}`, testid: 'invite-url' }) : null,
    err.el,
  ]);
  return li;
}

function invitesSection(ctx, shared, onReady) {
  const err = formError('invite-error');
  const usesId = uid('uses');
  const expId = uid('exp');
  const uses = h('input', { id: usesId, class: 'input', type: 'number', min: '1', max: '1000', step: '1', value: '1', inputmode: 'numeric', testid: 'invite-max-uses' });
  const expiry = h('select', { id: expId, class: 'select', testid: 'invite-expiry' }, EXPIRY_CHOICES.map(([v, t]) => h('option', { value: String(v), text: t, selected: v === 168 })));
  const create = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'create-invite', text: 'Create invite' });
  const list = h('ul', { class: 'admin-list card', testid: 'invite-list' }, h('li', {}, spinner('Loading invites…')));
  const form = h(
    'form',
    { class: 'invite-form card', testid: 'invite-form' },
    h('div', { class: 'field' }, h('label', { for: usesId, text: 'Uses' }), uses),
    h('div', { class: 'field' }, h('label', { for: expId, text: 'Expires after' }), expiry),
    create,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const n = Number(uses.value);
    if (!Number.isInteger(n) || n < 1 || n > 1000) {
      err.show('Uses must be a whole number from 1 to 1000.');
      uses.focus();
      return;
    }
    create.disabled = true;
    try {
      const r = await api.post('/api/invites', { max_uses: n, expires_in_hours: Number(expiry.value) });
      const inv = r.invite || r;
      list.querySelector('.admin-empty')?.remove();
      list.prepend(inviteRow(inv, shared));
      toast('Invite created: copy its link below.');
    } catch (e2) {
      if (!shared.denied(e2)) err.show(e2);
    } finally {
      create.disabled = false;
    }
  });
  const load = async () => {
    try {
      const r = await api.get('/api/invites');
      if (!ctx.alive) return;
      const items = r.items || [];
      list.replaceChildren(...items.map((inv) => inviteRow(inv, shared)));
      if (!items.length) list.append(h('li', { class: 'admin-empty', testid: 'invite-list-empty' }, emptyState('No invites yet.', 'An invite link lets someone sign up when sign-ups need one.')));
    } catch (e) {
      if (!ctx.alive || shared.denied(e)) return;
      list.replaceChildren();
      err.show(e);
    }
    onReady();
  };
  load();
  return h('section', { class: 'admin-sub', 'aria-labelledby': `${usesId}-h` }, h('h2', { class: 'admin-h2', id: `${usesId}-h`, text: 'Invites' }), form, err.el, list);
}

export function render(el, ctx, shared) {
  let waiting = 2;
  const oneReady = () => {
    waiting -= 1;
    if (waiting === 0) markReady(el);
  };
  const list = pagedList(ctx, {
    testid: 'pending-list',
    shared,
    onReady: () => waiting > 0 && oneReady(),
    fetchPage: (cursor) => api.get(`/api/admin/users${qs({ filter: 'pending', limit: 25, cursor })}`),
    row: (u) => userRow(u, { shared, onGone: () => list.checkEmpty() }),
    empty: () => emptyState('Nobody is waiting.', 'When sign-ups need approval, new accounts wait here with what they wrote.'),
  });
  el.append(
    h('section', { class: 'admin-sub' }, h('h2', { class: 'admin-h2', text: 'Waiting for approval' }), list.el),
    invitesSection(ctx, shared, oneReady),
  );
  list.reload();
}
