// Notifications, newest first, with a live unread badge.

import { api, qs } from '../api.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { loadError } from '../load-error.js';
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
  chat_mention: 'mentioned you in a chat',
};

const ICON = {
  friend_request: 'users',
  friend_accepted: 'check',
  like: 'heart',
  comment: 'comment',
  message: 'chat',
  chat_mention: 'chat',
};

function targetOf(n) {
  switch (n.kind) {
    case 'friend_request': return '#/friends';
    case 'friend_accepted': return n.actor ? `#/u/${encodeURIComponent(n.actor.username)}` : '#/friends';
    case 'like':
    case 'comment':
    case 'mention': {
      const id = n.post?.id ?? n.subject_id;
      return id ? `#/post/${encodeURIComponent(id)}` : '#/feed';
    }
    case 'message':
    case 'chat_mention': return n.subject_id ? `#/chat/${encodeURIComponent(n.subject_id)}` : '#/chat';
    default: return '#/feed';
  }
}

/** “text” as quoted in a notification, or null without text. */
function quoted(part) {
  const text = typeof part?.excerpt === 'string' ? part.excerpt.trim() : '';
  return text ? `“${text}”` : null;
}

/**
 * What happened, as one sentence: "Bob commented on your post “Dinner at
 * eight…”: “I’ll bring wine”". Older notifications without the post or
 * comment (or whose post is gone) say just "commented on your post".
 */
function sentence(n, actor) {
  if (n.kind === 'mention') return mentionSentence(n, actor);
  const who = h('strong', { class: 'notif-actor', text: actor.display_name || actor.username });
  const post = quoted(n.post);
  const comment = n.kind === 'comment' ? quoted(n.comment) : null;
  const parts = [who, ` ${TEXT[n.kind] || 'did something'}`];
  if ((n.kind === 'like' || n.kind === 'comment') && post) {
    parts.push(' ', h('span', { class: 'notif-post', testid: 'notification-post', text: post }));
  }
  if (comment) {
    parts.push(':', h('span', { class: 'notif-comment', testid: 'notification-comment', text: comment }));
  }
  return h('span', { class: 'notif-text' }, parts);
}

/**
 * A mention, quoting the words that named you: "Bob mentioned you in a
 * comment on “Dinner at eight…”: “@alice will bring wine”", or "Bob
 * mentioned you in a post: “@alice, dinner?”".
 */
function mentionSentence(n, actor) {
  const who = h('strong', { class: 'notif-actor', text: actor.display_name || actor.username });
  const post = quoted(n.post);
  const comment = quoted(n.comment);
  const inComment = !!n.comment;
  const parts = [who, inComment ? ' mentioned you in a comment' : ' mentioned you in a post'];
  if (inComment) {
    if (post) parts.push(' on ', h('span', { class: 'notif-post', testid: 'notification-post', text: post }));
    if (comment) parts.push(':', h('span', { class: 'notif-comment', testid: 'notification-comment', text: comment }));
  } else if (post) {
    parts.push(':', h('span', { class: 'notif-comment', testid: 'notification-post', text: post }));
  }
  return h('span', { class: 'notif-text' }, parts);
}

/** The kind's mark on the avatar: an icon, or an "@" for a mention. */
function kindMark(kind) {
  if (kind === 'mention' || kind === 'chat_mention') {
    return h('span', { class: ['notif-kind', 'kind-mention'], 'aria-hidden': 'true', text: '@' });
  }
  return h('span', { class: ['notif-kind', `kind-${kind}`] }, icon(ICON[kind] || 'bell', 'icon icon-xs'));
}

export function mount(root, _params, ctx) {
  setTitle('Notifications');
  const err = formError();
  const list = h('ul', { class: 'notif-list card', testid: 'notification-list' });
  const markAll = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', testid: 'mark-all-read' }, icon('check'), h('span', { text: 'Mark all as read' }));
  // Only something unread can be marked read.
  let marking = false;
  const updateMarkAll = () => {
    markAll.disabled = marking || state.notifUnread === 0;
  };
  updateMarkAll();
  ctx.on(EVENTS.NOTIFICATION_COUNT, updateMarkAll);
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
      h('span', { class: 'avatar-wrap' }, avatar(actor), kindMark(n.kind)),
      h('span', { class: 'notif-main' },
        sentence(n, actor),
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
    if (!has && !empty) list.append(h('li', { class: 'empty-li' }, emptyState('No notifications yet.', 'Likes, comments, mentions and friend requests show up here.')));
    if (has && empty) empty.remove();
  };

  // A failed load: one error with "Try again"; it loads again by itself
  // once the connection is back.
  let failedReset = true;
  const loadErr = loadError({ retry: () => load(failedReset) });
  ctx.onReconnect(() => {
    if (loadErr.failed) load(failedReset);
  });

  const load = async (reset) => {
    moreBtn.hidden = true;
    loadErr.clear();
    if (reset) {
      list.hidden = false;
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
      if (!ctx.alive) return;
      failedReset = reset;
      if (reset) {
        replace(list);
        list.hidden = true;
      }
      loadErr.show(e);
    }
  };

  markAll.addEventListener('click', async () => {
    marking = true;
    updateMarkAll();
    err.clear();
    try {
      await api.post('/api/notifications/read', {});
      for (const li of list.querySelectorAll('[data-testid="notification"]')) setRead(li);
      setNotifUnread(0);
    } catch (e) {
      err.show(e);
    } finally {
      marking = false;
      updateMarkAll();
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
    loadErr.el,
    moreBtn));
  load(true);
}
