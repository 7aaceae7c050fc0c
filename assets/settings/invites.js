// Settings › Invites (admins, and everyone when the server lets users
// invite): make an invite link for some number of uses that expires
// after a while, copy it, revoke it, and see how many times each was
// used. Admins see everyone's invites.

import { api, enc } from '../api.js';
import { relativeTime, timeEl } from '../time.js';
import { toast } from '../toast.js';
import { emptyState, formError, h, replace, spinner } from '../ui.js';
import { card, copyButton, plural, whileBusy } from './kit.js';

const USES = [1, 5, 10, 25, 100];
const EXPIRY = [
  { hours: 24, label: '1 day' },
  { hours: 168, label: '7 days' },
  { hours: 720, label: '30 days' },
  { hours: 8760, label: '1 year' },
];

/** An invite's state: 'revoked', 'used', 'expired' or 'active'. */
export function inviteStatus(inv, now = Date.now()) {
  if (inv.revoked) return 'revoked';
  if (inv.uses >= inv.max_uses) return 'used';
  if (inv.expires_at && Date.parse(inv.expires_at) <= now) return 'expired';
  return 'active';
}

const STATUS_LABEL = { active: 'Active', used: 'Used up', expired: 'Expired', revoked: 'Revoked' };

export function render(el, ctx, shared) {
  const me = shared.me;
  if (!me.admin && !shared.config.invites_by_users) {
    el.append(card({ title: 'Invites', testid: 'settings-invites' },
      h('p', { class: 'muted', text: 'On this server only admins make invites.' })));
    return;
  }
  const err = formError('invites-error');
  const uses = h('select', { id: 'invite-uses', class: 'select', testid: 'invite-uses' },
    USES.map((n) => h('option', { value: String(n), text: plural(n, 'person', 'people') })));
  const expiry = h('select', { id: 'invite-expiry', class: 'select', testid: 'invite-expiry' },
    EXPIRY.map((e) => h('option', { value: String(e.hours), text: e.label, selected: e.hours === 168 })));
  const create = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'invite-create', text: 'Create invite link' });
  const form = h('form', { class: 'invite-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: uses.id, text: 'Can be used by' }), uses),
    h('div', { class: 'field' }, h('label', { for: expiry.id, text: 'Expires after' }), expiry),
    create);
  const list = h('ul', { class: 'invite-list', testid: 'invite-list', 'aria-busy': 'true', tabindex: '-1' }, h('li', {}, spinner('Loading your invites…')));

  const row = (inv) => {
    const st = inviteStatus(inv);
    const link = h('input', { class: 'input invite-url', readonly: true, value: inv.url, 'aria-label': `Invite link ${inv.code}`, testid: 'invite-url' });
    link.addEventListener('focus', () => link.select());
    const expires = inv.expires_at
      ? (st === 'expired' ? h('span', {}, 'Expired ', timeEl(inv.expires_at)) : h('span', { title: new Date(inv.expires_at).toLocaleString(), text: `Expires ${relativeTime(inv.expires_at)}` }))
      : h('span', { text: 'Never expires' });
    const revoke = st === 'active' ? h('button', { type: 'button', class: 'btn btn-ghost btn-sm', testid: 'invite-revoke', text: 'Revoke' }) : null;
    const li = h('li', { class: ['invite', `is-${st}`], testid: 'invite', dataset: { code: inv.code, status: st } },
      h('div', { class: 'invite-top' },
        h('code', { class: 'invite-code', text: inv.code }),
        h('span', { class: ['pill', st === 'active' ? 'pill-success' : null], testid: 'invite-status', text: STATUS_LABEL[st] }),
        h('span', { class: 'invite-uses', testid: 'invite-uses-count', text: `${inv.uses} of ${plural(inv.max_uses, 'use', 'uses')}` })),
      st === 'active' ? h('div', { class: 'invite-link-row' }, link, copyButton(inv.url), revoke) : null,
      h('p', { class: 'invite-meta' },
        expires,
        h('span', {}, 'Made ', timeEl(inv.created_at)),
        me.admin && inv.created_by && inv.created_by.username !== me.username ? h('span', { text: `by ${inv.created_by.username}` }) : null));
    if (revoke) {
      revoke.addEventListener('click', async () => {
        if (!window.confirm('Revoke this invite? Its link stops working; accounts already made with it stay.')) return;
        err.clear();
        try {
          await whileBusy(revoke, () => api.del(`/api/invites/${enc(inv.code)}`));
          const fresh = row({ ...inv, revoked: true });
          li.replaceWith(fresh);
          toast('The invite is revoked.');
          fresh.focus();
        } catch (e) {
          err.show(e);
        }
      });
    }
    li.tabIndex = -1;
    return li;
  };

  const empty = () => h('li', { class: 'empty-li' }, emptyState('No invites yet.', 'Make a link above and send it to someone you want here.'));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    try {
      const res = await whileBusy(create, () => api.post('/api/invites', { max_uses: Number(uses.value), expires_in_hours: Number(expiry.value) }));
      if (!ctx.alive) return;
      list.querySelector('.empty-li')?.remove();
      const li = row(res.invite);
      li.classList.add('is-new');
      list.prepend(li);
      li.querySelector('.invite-url')?.focus();
      toast('Invite link created. Copy it and send it on.');
    } catch (ex) {
      err.show(ex.status === 429 ? 'You have many open invites already: revoke some, or wait until they are used.' : ex);
    }
  });

  el.append(card({
    title: 'Invite people',
    description: 'Anyone with the link can create an account, as many times as you allow, until it expires.',
    testid: 'settings-invites',
  }, form, err.el), card({ title: me.admin ? 'All invites' : 'Your invites', testid: 'settings-invite-list' }, list));

  api.get('/api/invites').then((res) => {
    if (!ctx.alive) return;
    list.removeAttribute('aria-busy');
    const items = res.items || [];
    replace(list, items.length ? items.map(row) : empty());
  }, (e) => {
    if (!ctx.alive) return;
    list.removeAttribute('aria-busy');
    replace(list);
    err.show(e);
  });
}
