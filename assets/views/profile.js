// A user's profile and their posts.

import { findRequest, openDirect, unfriend } from '../actions.js';
import { api, enc, qs } from '../api.js';
import { bus } from '../bus.js';
import { confirmAction } from '../confirm.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { loadError } from '../load-error.js';
import { avatarControls } from '../mediakit/avatar.js';
import { moreMenu } from '../menu.js';
import { openReport } from '../report.js';
import { setTitle } from '../router.js';
import { isOnline, setPresence } from '../store.js';
import { toast } from '../toast.js';
import { actionButton, avatar, formError, h, messageOf, replace, spinner, uid } from '../ui.js';
import { postList } from './post-list.js';

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

// Deleting your own account: says what goes, asks for the password
// again, asks once more (assets/confirm.js), then signs out.
function deleteAccount() {
  const err = formError('delete-error');
  const headingId = uid('delete-heading');
  const passwordId = uid('delete-password');
  const password = h('input', {
    id: passwordId,
    type: 'password',
    class: 'input',
    autocomplete: 'current-password',
    testid: 'delete-password',
  });
  const cancel = h('button', { type: 'button', class: 'btn btn-ghost', testid: 'delete-cancel', text: 'Cancel' });
  const confirmBtn = actionButton(err, 'Delete my account', 'btn-danger', 'delete-confirm', async (b) => {
    if (!password.value) {
      b.disabled = false;
      err.show('Enter your password first.');
      password.focus();
      return;
    }
    const sure = await confirmAction({
      title: 'Delete your account for good?',
      body: 'This cannot be undone. You will be signed out everywhere.',
      confirmLabel: 'Delete my account',
    });
    if (!sure) {
      b.disabled = false;
      return;
    }
    await api.del('/api/me', { password: password.value });
    toast('Your account is deleted.');
    bus.emit(EVENTS.SESSION_ENDED);
  });
  const form = h('section', { class: 'delete-account', hidden: true, testid: 'delete-account', 'aria-labelledby': headingId },
    h('h3', { id: headingId, text: 'Delete your account' }),
    h('p', { text: 'Deleting your account removes, for everyone and for good:' }),
    h('ul', {},
      h('li', { text: 'your profile, photos and videos' }),
      h('li', { text: 'your posts, comments and likes' }),
      h('li', { text: 'your messages and your friendships' })),
    h('p', { text: 'Download your data first if you want to keep a copy.' }),
    h('label', { class: 'field-label', for: passwordId, text: 'Your password' }),
    password,
    err.el,
    h('div', { class: 'delete-account-actions' }, cancel, confirmBtn));
  const open = h('button', { type: 'button', class: 'btn btn-ghost', testid: 'profile-delete', 'aria-expanded': 'false', text: 'Delete account' });
  const show = (on) => {
    form.hidden = !on;
    open.setAttribute('aria-expanded', on ? 'true' : 'false');
    if (on) {
      password.focus();
    } else {
      password.value = '';
      err.clear();
    }
  };
  open.addEventListener('click', () => show(form.hidden));
  cancel.addEventListener('click', () => {
    show(false);
    open.focus();
  });
  return h('div', { class: 'delete-account-wrap' }, open, form);
}

export function mount(root, { username }, ctx) {
  setTitle(username);
  const page = h('div', { class: 'page page-profile' });
  const head = h('section', { class: 'profile-card card' });
  const heading = h('h1', { class: 'profile-name', testid: 'profile-name', text: username });
  replace(head, h('div', { class: 'profile-top' }, avatar({ username }, 'xl'), h('div', { class: 'profile-id' }, heading)), spinner());
  page.append(head);
  root.append(page);

  const err = formError();

  const renderHead = (p) => {
    const u = p.user;
    setTitle(u.username);
    heading.textContent = u.username;
    const actions = h('div', { class: 'profile-actions' });
    const dot = h('span', { class: 'presence-dot', testid: 'presence-dot', dataset: { online: String(isOnline(u.username)) }, 'aria-hidden': 'true' });
    const presenceText = h('span', { class: 'presence-text', text: isOnline(u.username) ? 'Online' : 'Offline' });
    ctx.on(EVENTS.PRESENCE_CHANGED, () => {
      dot.dataset.online = String(isOnline(u.username));
      presenceText.textContent = isOnline(u.username) ? 'Online' : 'Offline';
    });

    const reload = async () => {
      try {
        const fresh = await api.get(`/api/users/${enc(username)}`);
        if (ctx.alive) renderHead(fresh);
      } catch (e) {
        err.show(e);
      }
    };
    const act = (label, cls, fn, testid) => actionButton(err, label, cls, testid, fn);

    switch (p.relationship) {
      case 'self':
        actions.append(
          avatarControls(),
          h('a', { class: 'btn btn-secondary', href: '#/settings/profile', testid: 'profile-edit', text: 'Edit profile' }),
          h('span', { class: 'pill', text: 'This is you' }),
          h('a', { class: 'btn btn-ghost', href: '/api/me/export', download: '', testid: 'profile-export' },
            h('span', { text: 'Download my data' })),
          deleteAccount());
        break;
      case 'blocked':
        actions.append(act('Unblock', 'btn-secondary', async () => {
          await api.del(`/api/users/${enc(u.username)}/block`);
          toast(`${u.username} is unblocked.`);
          await reload();
        }, 'profile-unblock'));
        break;
      case 'friends':
        actions.append(
          act('Message', 'btn-primary', () => openDirect(u), 'profile-message'),
          act('Remove friend', 'btn-ghost', async (b) => {
            if (await unfriend(u.username)) await reload();
            else b.disabled = false;
          }, 'profile-remove'));
        break;
      case 'request_sent':
        actions.append(h('button', { type: 'button', class: 'btn btn-secondary', disabled: true, testid: 'profile-requested', text: 'Requested' }));
        break;
      case 'request_received':
        actions.append(
          act('Accept request', 'btn-primary', async () => {
            const r = await findRequest(u.username, 'incoming');
            if (r) await api.post(`/api/friends/requests/${enc(r.id)}/accept`);
            bus.emit(EVENTS.FRIENDSHIP_NEW);
            await reload();
          }, 'profile-accept'),
          act('Decline', 'btn-ghost', async () => {
            const r = await findRequest(u.username, 'incoming');
            if (r) await api.post(`/api/friends/requests/${enc(r.id)}/decline`);
            await reload();
          }, 'profile-decline'));
        break;
      default:
        actions.append(act('Add friend', 'btn-primary', async (b) => {
          const res = await api.post('/api/friends/requests', { username: u.username });
          if (res.status === 'accepted') {
            bus.emit(EVENTS.FRIENDSHIP_NEW);
            await reload();
          } else {
            b.textContent = 'Requested';
            b.disabled = true;
          }
        }, 'profile-add'));
    }

    if (p.relationship !== 'self' && p.relationship !== 'blocked') {
      actions.append(act('Block', 'btn-ghost', async (b) => {
        if (!(await confirmAction({
          title: `Block ${u.username}?`,
          body: 'You will no longer see each other\'s posts, comments or presence, and neither of you can message the other.',
          confirmLabel: 'Block',
        }))) {
          b.disabled = false;
          return;
        }
        await api.put(`/api/users/${enc(u.username)}/block`);
        setPresence(u.username, false);
        toast(`${u.username} is blocked.`);
        await reload();
      }, 'profile-block'));
    }

    // The "…" menu: mute (their posts leave your feed; they are not told) and report.
    if (p.relationship !== 'self') {
      const mute = p.muted
        ? { label: 'Unmute', testid: 'profile-unmute', onSelect: () => setMute(false) }
        : { label: 'Mute', testid: 'profile-mute', onSelect: () => setMute(true) };
      const report = { label: 'Report user', testid: 'profile-report', onSelect: (opener) => openReport({ kind: 'user', id: u.id, about: u.username, opener }) };
      actions.append(moreMenu([mute, report], { label: `More actions for ${u.username}`, testid: 'profile-menu' }));
    }
    async function setMute(on) {
      err.clear();
      try {
        if (on) await api.put(`/api/users/${enc(u.username)}/mute`);
        else await api.del(`/api/users/${enc(u.username)}/mute`);
        toast(on ? `${u.username} is muted. Their posts leave your feed; they are not told.` : `${u.username} is unmuted.`);
        await reload();
        head.querySelector('[data-testid="profile-menu"]')?.focus();
      } catch (e) {
        err.show(e);
      }
    }

    replace(head,
      h('div', { class: 'profile-top' },
        h('div', { class: 'avatar-wrap' }, avatar(u, 'xl'), p.relationship === 'friends' ? dot : null),
        h('div', { class: 'profile-id' },
          heading,
          u.display_name && u.display_name !== u.username ? h('p', { class: 'display-name', text: u.display_name }) : null,
          h('p', { class: 'profile-stats' },
            h('span', { text: plural(p.post_count, 'post', 'posts') }),
            h('span', { 'aria-hidden': 'true', text: ' · ' }),
            h('span', { text: plural(p.friend_count, 'friend', 'friends') }),
            p.relationship === 'friends' ? [h('span', { 'aria-hidden': 'true', text: ' · ' }), presenceText] : null),
          p.muted ? h('p', { class: 'pill profile-muted', testid: 'profile-muted', text: 'Muted' }) : null)),
      p.bio || u.bio ? h('p', { class: 'profile-bio', testid: 'profile-bio', text: p.bio || u.bio }) : null,
      actions,
      err.el);
  };

  // Could not load (offline?): one error with "Try again"; it loads again
  // by itself once the connection is back.
  const loadErr = loadError({ retry: () => loadProfile() });
  ctx.onReconnect(() => {
    if (loadErr.failed) loadProfile();
  });
  const loadProfile = async () => {
    let profile;
    if (loadErr.failed) replace(head, h('div', { class: 'profile-top' }, avatar({ username }, 'xl'), h('div', { class: 'profile-id' }, heading)), spinner());
    loadErr.clear();
    try {
      profile = await api.get(`/api/users/${enc(username)}`);
    } catch (e) {
      if (!ctx.alive) return;
      if (e.status !== 404) {
        loadErr.show(e);
        replace(head, h('div', { class: 'profile-top' }, avatar({ username }, 'xl'), h('div', { class: 'profile-id' }, heading)), loadErr.el);
        return;
      }
      setTitle('Not found');
      replace(head,
        h('div', { class: 'profile-top' }, h('div', { class: 'profile-id' }, heading)),
        h('p', { class: 'muted', text: e.status === 404 ? 'There is no one by that name here.' : messageOf(e) }),
        h('a', { class: 'btn btn-secondary', href: '#/friends' }, icon('search'), h('span', { text: 'Find people' })));
      return;
    }
    if (!ctx.alive) return;
    renderHead(profile);
    // Your own new or removed photo (avatarControls, here or elsewhere).
    ctx.on(EVENTS.ME_CHANGED, async (me) => {
      if (me.username !== username) return;
      try {
        const fresh = await api.get(`/api/users/${enc(username)}`);
        if (ctx.alive) renderHead(fresh);
      } catch {
        // leave it
      }
    });
    ctx.on(EVENTS.FRIENDS_CHANGED, async (n) => {
      if (n.actor && n.actor.username === username) {
        try {
          const fresh = await api.get(`/api/users/${enc(username)}`);
          if (ctx.alive) renderHead(fresh);
        } catch {
          // leave it
        }
      }
    });
    const list = postList(ctx, {
      fetchPage: (cursor) => api.get(`/api/users/${enc(username)}/posts${qs({ limit: 20, cursor })}`),
      emptyTitle: 'No posts yet.',
      emptyDetail: profile.relationship === 'self' ? 'Share something from your feed.' : 'Nothing to see here — yet.',
    });
    page.append(h('h2', { class: 'section-title', text: 'Posts' }), list.el);
    list.load();
  };
  loadProfile();
}
