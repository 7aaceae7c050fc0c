// Chat: the list of conversations beside the open one (chat-thread.js),
// each with its unread count, an @ when unread messages name you, and a
// muted mark (a muted conversation's count shows quieter). On a narrow
// screen only one of the two shows at a time.

import { UNSENT_TEXT } from '../chat/bubble.js';
import { chat, loadConversations } from '../chat/client.js';
import { systemText } from '../chat/members.js';
import { openNewConversation } from '../chat/new-conversation.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { loadError } from '../load-error.js';
import { describeMedia } from '../mediakit/grid.js';
import { setTitle } from '../router.js';
import { isMe, state } from '../store.js';
import { relativeTime } from '../time.js';
import { avatar, emptyState, h, replace, spinner } from '../ui.js';
import { convOnline } from './chat-head.js';
import { openThread } from './chat-thread.js';

/** The list of conversations re-renders this often, so relative times stay true. */
const LIST_TICK_MS = 60000;
/** The server counts unread messages up to this many (UNREAD_CAP). */
const UNREAD_CAP = 999;

/** The group's latest change, when it is newer than its last message. */
function latestEvent(c) {
  let e = null;
  for (const ev of c.events.values()) if (!e || ev.seq > e.seq) e = ev;
  return e && (!c.last_message || e.seq > c.last_message.seq) ? e : null;
}

function previewOf(c) {
  const e = latestEvent(c);
  if (e) {
    const line = systemText(e, (u) => chat.nameOf(c.id, u), state.me?.username);
    if (line) return line;
  }
  const m = c.last_message;
  if (!m) return 'No messages yet';
  if (m.unsent) return isMe(m.sender) ? 'You unsent a message' : UNSENT_TEXT;
  const who = isMe(m.sender) ? 'You: ' : (c.kind === 'group' && m.sender ? `${m.sender}: ` : '');
  const text = (m.body || '').replace(/\s+/g, ' ').trim();
  // A message of photos only says so, as "Photo" or "3 photos".
  // Our own sent messages carry only ids: the store knows their kind.
  return who + (text || describeMedia((m.media || []).map((x) => (x.kind ? x : state.media.get(x.id) || x))) || '');
}

// ---- conversation list item -------------------------------------------------

/** One conversation in the list: { li, update(conversation, active) }. */
function convItem(c) {
  const title = h('span', { class: 'conversation-title', testid: 'conversation-title' });
  const time = h('time', { class: 'conv-time' });
  const preview = h('span', { class: 'conv-preview' });
  // The badges are read out as words (`said`), not as "3" and "@".
  const unread = h('span', { class: 'badge', testid: 'unread-count', 'aria-hidden': 'true', hidden: true, text: '0' });
  const mention = h('span', { class: 'badge badge-mention', testid: 'mention-badge', 'aria-hidden': 'true', hidden: true, text: '@' });
  const muted = h('span', { class: 'conv-muted', testid: 'conversation-muted', 'aria-hidden': 'true', title: 'Muted', hidden: true }, icon('mute'));
  const said = h('span', { class: 'sr-only' });
  const dot = h('span', { class: 'presence-dot presence-dot-sm', 'aria-hidden': 'true' });
  const av = h('span', { class: 'avatar-wrap' });
  const a = h('a', { class: 'conversation', testid: 'conversation', href: `#/chat/${encodeURIComponent(c.id)}`, dataset: { conversationId: c.id } },
    av,
    h('span', { class: 'conv-main' },
      h('span', { class: 'conv-top' }, title, muted, time),
      h('span', { class: 'conv-bottom' }, preview, mention, unread)),
    said);
  const li = h('li', { class: 'conv-li' }, a);
  const update = (cv, active) => {
    const t = chat.title(cv);
    if (title.textContent !== t) title.textContent = t;
    const others = chat.others(cv);
    const who = others[0] || state.me;
    if (av.dataset.who !== (cv.kind === 'group' ? `g:${t}` : who.username)) {
      av.dataset.who = cv.kind === 'group' ? `g:${t}` : who.username;
      replace(av, avatar(cv.kind === 'group' ? { username: t, display_name: t } : who), dot);
    }
    dot.dataset.online = String(convOnline(cv));
    preview.textContent = previewOf(cv);
    if (cv.last_message) {
      time.dateTime = cv.last_message.created_at;
      time.textContent = relativeTime(cv.last_message.created_at);
    } else {
      time.textContent = '';
    }
    const n = Math.max(0, cv.unread | 0);
    unread.textContent = n >= UNREAD_CAP ? `${UNREAD_CAP}+` : String(n);
    unread.hidden = n === 0;
    mention.hidden = !(cv.mentions > 0) || n === 0;
    muted.hidden = !cv.muted;
    a.classList.toggle('has-unread', n > 0);
    a.classList.toggle('is-muted', !!cv.muted);
    a.dataset.unread = String(n);
    const words = [];
    if (n) words.push(`${n >= UNREAD_CAP ? `${UNREAD_CAP} or more` : n} unread ${n === 1 ? 'message' : 'messages'}`);
    if (!mention.hidden) words.push(cv.mentions === 1 ? 'one mentions you' : `${cv.mentions} mention you`);
    if (cv.muted) words.push('muted');
    said.textContent = words.length ? `, ${words.join(', ')}` : '';
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  };
  return { li, update };
}

// ---- the view -------------------------------------------------------------

export function mount(root, params, ctx) {
  setTitle('Chat');
  const layout = h('div', { class: 'page page-chat chat-layout' });
  const convList = h('ul', { class: 'conv-list', testid: 'conversation-list', 'aria-label': 'Conversations' });
  const listPane = h('aside', { class: 'conv-pane', 'aria-label': 'Conversations' },
    h('header', { class: 'conv-pane-head' },
      h('h1', { text: 'Chat' }),
      h('button', { type: 'button', class: 'btn btn-ghost btn-sm', testid: 'new-conversation-open', title: 'Start a chat or a group', onclick: () => openNewConversation() }, icon('plus'), h('span', { text: 'New' }))),
    convList);
  const threadPane = h('section', { class: 'thread-pane', 'aria-label': 'Conversation' });
  layout.append(listPane, threadPane);
  root.append(layout);

  /** conversation id -> its list item ({ li, update }) */
  const items = new Map();
  let activeId = null;
  let thread = null; // the open conversation's controller

  // The list could not load (offline?): one error with "Try again"; it
  // loads again by itself once the connection is back.
  const listErr = loadError({ retry: () => loadList() });
  const loadList = () => loadConversations().then(() => listErr.clear(), (e) => {
    if (!ctx.alive || chat.loaded) return;
    listErr.show(e);
    replace(convList, h('li', {}, listErr.el));
  });
  ctx.onReconnect(() => {
    if (!chat.loaded) loadList();
  });

  const renderList = () => {
    const convs = chat.list();
    if (!convs.length) {
      items.clear();
      if (!chat.loaded) {
        if (!listErr.failed) replace(convList, h('li', {}, spinner('Loading conversations…')));
      } else {
        replace(convList, h('li', { class: 'empty-li' },
          emptyState('No conversations yet.', 'Start one with a friend, or a group with several.'),
          h('button', { type: 'button', class: 'btn btn-secondary btn-sm', onclick: () => openNewConversation() }, icon('plus'), h('span', { text: 'New conversation' }))));
      }
      return;
    }
    if (!items.size) replace(convList);
    for (const c of convs) {
      let item = items.get(c.id);
      if (!item) {
        item = convItem(c);
        items.set(c.id, item);
      }
      item.update(c, c.id === activeId);
    }
    // Reorder only when needed (moving a focused link would blur it).
    const want = convs.map((c) => items.get(c.id).li);
    const have = [...convList.children];
    if (want.length !== have.length || want.some((li, i) => li !== have[i])) {
      for (const li of have) if (!want.includes(li)) li.remove();
      want.forEach((li, i) => {
        if (convList.children[i] !== li) convList.insertBefore(li, convList.children[i] || null);
      });
    }
  };

  const open = (id) => {
    if (thread) {
      thread.dispose();
      thread = null;
    }
    activeId = id;
    chat.active = id;
    layout.dataset.hasActive = id ? 'true' : 'false';
    if (!id) {
      setTitle('Chat');
      replace(threadPane, h('div', { class: 'thread-empty' },
        icon('chat', 'icon icon-xl'),
        h('p', { class: 'empty-title', text: 'Pick a conversation' }),
        h('p', { class: 'muted', text: 'Or start one from your friends list.' })));
    } else {
      thread = openThread(threadPane, id);
    }
    renderList();
  };

  ctx.on(EVENTS.CHAT_CONVERSATIONS, renderList);
  ctx.on(EVENTS.CHAT_UNREAD, renderList);
  ctx.on(EVENTS.CHAT_MESSAGE, renderList);
  ctx.on(EVENTS.PRESENCE_CHANGED, renderList);
  ctx.interval(renderList, LIST_TICK_MS);
  ctx.cleanup(() => {
    if (thread) thread.dispose();
    chat.active = null;
  });

  open(params.id || null);
  loadList();

  mounted = { ctx, open };
}

// The mounted view, so switching conversations keeps the list.
let mounted = null;

export function update(p) {
  if (!mounted?.ctx.alive) return false;
  mounted.open(p.id || null);
  return true;
}
