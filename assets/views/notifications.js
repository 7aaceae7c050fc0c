// Notifications, newest first, with a live unread badge.

import { api, qs } from '../api.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { navigate, setTitle } from '../router.js';
import { setNotifUnread, state } from '../store.js';
import { timeEl } from '../time.js';
import { avatar, emptyState, formError, h, replace, spinner } from '../ui.js';

const TEXT = {
  friend_request: 'sent you a friend request',
  friend_accepted: 'accepted your friend request',
  like: 'liked your post',
  comment: 'commented on your post',
  message: 'sent you a message',
};

const ICON = {
  friend_request: 'users',
  friend_accepted: 'check',
  like: 'heart',
  comment: 'comment',
  message: 'chat',
};

function targetOf(n) {
  switch (n.kind) {
    case 'friend_request': return '#/friends';
    case 'friend_accepted': return n.actor ? `#/u/${encodeURIComponent(n.actor.username)}` : '#/friends';
    case 'like':
    case 'comment': return n.subject_id ? `#/post/${encodeURIComponent(n.subject_id)}` : '#/feed';
    case 'message': return n.subject_id ? `#/chat/${encodeURIComponent(n.subject_id)}` : '#/chat';
    default: return '#/feed';
  }
}

export function mount(root, _params, ctx) {
  setTitle('Notifications');
  const err = formError();
  const list = h('ul', { class: 'notif-list card', testid: 'notification-list' });
  const markAll = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', testid: 'mark-all-read' }, icon('check'), h('span', { text: 'Mark all as read' }));
  const moreBtn = h('button', { type: 'button', class: 'btn btn-secondary', hidden: true, text: 'Load more' });
  const seen = new Set();
  let cursor = null;

  const setRead = (li) => {
    li.dataset.read = 'true';
    li.classList.remove('unread');
  };

  const item = (n) => {
    const actor = n.actor || { username: 'someone', display_name: 'Someone' };
    const li = h('li', { class: ['notification', n.read ? null : 'unread'], testid: 'notification', dataset: { read: String(!!n.read), id: n.id, kind: n.kind } });
    const link = h('a', { class: 'notif-link', href: targetOf(n) },
      h('span', { class: 'avatar-wrap' }, avatar(actor), h('span', { class: ['notif-kind', `kind-${n.kind}`] }, icon(ICON[n.kind] || 'bell', 'icon icon-xs'))),
      h('span', { class: 'notif-main' },
        h('span', { class: 'notif-text' }, h('strong', { text: actor.username }), ` ${TEXT[n.kind] || 'did something'}`),
        timeEl(n.created_at)),
      h('span', { class: 'unread-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'sr-only', text: n.read ? '' : ' (unread)' }));
    link.addEventListener('click', async (e) => {
      if (li.dataset.read === 'true') return;
      e.preventDefault();
      setRead(li);
      setNotifUnread(state.notifUnread - 1);
      try {
        await api.post('/api/notifications/read', { ids: [n.id] });
      } catch {
        // the badge catches up on the next load
      }
      navigate(targetOf(n));
    });
    li.append(link);
    return li;
  };

  const showEmpty = () => {
    const has = list.querySelector('[data-testid="notification"]');
    const empty = list.querySelector('.empty-li');
    if (!has && !empty) list.append(h('li', { class: 'empty-li' }, emptyState('You’re all caught up.', 'Likes, comments, friend requests and messages show up here.')));
    if (has && empty) empty.remove();
  };

  const load = async (reset) => {
    moreBtn.hidden = true;
    if (reset) {
      cursor = null;
      seen.clear();
      replace(list, h('li', {}, spinner('Loading notifications…')));
    }
    try {
      const page = await api.get(`/api/notifications${qs({ limit: 30, cursor })}`);
      if (!ctx.alive) return;
      if (reset) replace(list);
      for (const n of page.items) {
        if (seen.has(n.id)) continue;
        seen.add(n.id);
        list.append(item(n));
      }
      cursor = page.next_cursor;
      moreBtn.hidden = !cursor;
      setNotifUnread(page.unread);
      showEmpty();
    } catch (e) {
      if (ctx.alive) err.show(e);
    }
  };

  markAll.addEventListener('click', async () => {
    markAll.disabled = true;
    err.clear();
    try {
      await api.post('/api/notifications/read', {});
      for (const li of list.querySelectorAll('[data-testid="notification"]')) setRead(li);
      setNotifUnread(0);
    } catch (e) {
      err.show(e);
    } finally {
      markAll.disabled = false;
    }
  });
  moreBtn.addEventListener('click', () => load(false));

  ctx.on(EVENTS.NOTIFICATION_NEW, (n) => {
    if (seen.has(n.id)) return;
    seen.add(n.id);
    list.prepend(item(n));
    showEmpty();
  });

  root.append(h('div', { class: 'page page-notifications' },
    h('header', { class: 'page-head' }, h('h1', { text: 'Notifications' }), markAll),
    err.el,
    list,
    moreBtn));
  load(true);
}
