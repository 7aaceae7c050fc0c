// Chat: the conversation list and one conversation (history with infinite
// scroll upward, live messages, typing, read receipts, presence).

import { bus, chat, state, isMe, isOnline, sendFrame } from '../store.js';
import { setTitle } from '../router.js';
import {
  h, icon, avatar, formError, emptyState, spinner, replace, uid, setBadge, clockTime, relativeTime, messageOf,
} from '../ui.js';

const TYPING_EVERY_MS = 1500;
const MAX_BODY = 4000;
const UNACKED_AFTER_MS = 10000;

function previewOf(c) {
  const m = c.last_message;
  if (!m) return 'No messages yet';
  const who = isMe(m.sender) ? 'You: ' : (c.kind === 'group' && m.sender ? `${m.sender}: ` : '');
  const text = m.body.replace(/\s+/g, ' ');
  return who + text;
}

function convOnline(c) {
  return chat.others(c).some((m) => isOnline(m.username));
}

// ---- conversation list item -------------------------------------------------

function convItem(c) {
  const title = h('span', { class: 'conversation-title', testid: 'conversation-title' });
  const time = h('time', { class: 'conv-time' });
  const preview = h('span', { class: 'conv-preview' });
  const unread = h('span', { class: 'badge', testid: 'unread-count', hidden: true, text: '0' });
  const dot = h('span', { class: 'presence-dot presence-dot-sm', 'aria-hidden': 'true' });
  const av = h('span', { class: 'avatar-wrap' });
  const a = h('a', { class: 'conversation', testid: 'conversation', href: `#/chat/${encodeURIComponent(c.id)}`, dataset: { conversationId: c.id } },
    av,
    h('span', { class: 'conv-main' },
      h('span', { class: 'conv-top' }, title, time),
      h('span', { class: 'conv-bottom' }, preview, unread)));
  const li = h('li', { class: 'conv-li' }, a);
  li.kithUpdate = (cv, active) => {
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
    setBadge(unread, cv.unread);
    a.classList.toggle('has-unread', cv.unread > 0);
    if (active) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  };
  return li;
}

// ---- the view -------------------------------------------------------------

export function mount(root, params, ctx) {
  setTitle('Chat');
  const layout = h('div', { class: 'page page-chat chat-layout' });
  const convList = h('ul', { class: 'conv-list', testid: 'conversation-list', 'aria-label': 'Conversations' });
  const listPane = h('aside', { class: 'conv-pane', 'aria-label': 'Conversations' },
    h('header', { class: 'conv-pane-head' },
      h('h1', { text: 'Chat' }),
      h('a', { class: 'btn btn-ghost btn-sm', href: '#/friends', title: 'Message a friend' }, icon('plus'), h('span', { text: 'New' }))),
    convList);
  const threadPane = h('section', { class: 'thread-pane', 'aria-label': 'Conversation' });
  layout.append(listPane, threadPane);
  root.append(layout);

  const items = new Map();
  let activeId = null;
  let thread = null; // the open conversation's controller

  const renderList = () => {
    const convs = chat.list();
    if (!convs.length) {
      items.clear();
      if (!chat.loaded) replace(convList, h('li', {}, spinner('Loading conversations…')));
      else {
        replace(convList, h('li', { class: 'empty-li' },
          emptyState('No conversations yet.', 'Open your friends list and press “Message” to start one.'),
          h('a', { class: 'btn btn-secondary btn-sm', href: '#/friends' }, icon('users'), h('span', { text: 'Go to friends' }))));
      }
      return;
    }
    if (!items.size) replace(convList);
    for (const c of convs) {
      let li = items.get(c.id);
      if (!li) {
        li = convItem(c);
        items.set(c.id, li);
      }
      li.kithUpdate(c, c.id === activeId);
    }
    // Reorder only when needed (moving a focused link would blur it).
    const want = convs.map((c) => items.get(c.id));
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

  ctx.on('chat:convs', renderList);
  ctx.on('chat:unread', renderList);
  ctx.on('chat:message', renderList);
  ctx.on('presence', renderList);
  ctx.interval(renderList, 60000);
  ctx.cleanup(() => {
    if (thread) thread.dispose();
    chat.active = null;
  });

  open(params.id || null);
  if (chat.loaded) chat.load().catch(() => {});

  mounted = { ctx, open };
}

// The mounted view, so switching conversations keeps the list.
let mounted = null;

export function update(p) {
  if (!mounted || !mounted.ctx.alive) return false;
  mounted.open(p.id || null);
  return true;
}

// ---- one conversation ------------------------------------------------------

function openThread(pane, id) {
  const offs = [];
  const on = (type, fn) => {
    offs.push(bus.on(type, (d) => {
      if (alive) fn(d);
    }));
  };
  const timers = [];
  let alive = true;

  const c0 = chat.conv(id);
  const titleEl = h('h2', { class: 'chat-title', testid: 'chat-title', text: c0 ? chat.title(c0) : 'Conversation' });
  const presenceDot = h('span', { class: 'presence-dot', testid: 'chat-presence', dataset: { online: 'false' } });
  const presenceText = h('span', { class: 'muted small' });
  const headAvatar = h('span', { class: 'avatar-wrap' });
  const back = h('a', { class: 'btn btn-ghost btn-icon back-link', href: '#/chat', 'aria-label': 'Back to conversations' }, icon('back'));
  const head = h('header', { class: 'thread-head' },
    back, headAvatar,
    h('div', { class: 'thread-id' }, titleEl, h('div', { class: 'thread-presence' }, presenceDot, presenceText)));

  const older = h('li', { class: 'older', 'aria-hidden': 'true' });
  const receipt = h('li', { class: 'read-receipt', testid: 'read-receipt', hidden: true, text: 'Seen' });
  const list = h('ol', { class: 'messages', testid: 'messages', tabindex: '0', 'aria-label': 'Messages', role: 'log', 'aria-live': 'polite' }, older);
  const typing = h('p', { class: 'typing-indicator', testid: 'typing-indicator', hidden: true, 'aria-live': 'polite' });
  const typingSlot = h('div', { class: 'typing-slot' }, typing);

  const inputId = uid('message');
  const input = h('textarea', {
    id: inputId,
    class: 'input message-input',
    testid: 'message-input',
    rows: '1',
    placeholder: 'Write a message…',
    maxlength: String(MAX_BODY),
    autocomplete: 'off',
  });
  const sendBtn = h('button', { type: 'submit', class: 'btn btn-primary btn-icon send-btn', testid: 'message-send', 'aria-label': 'Send' }, icon('send'));
  const err = formError();
  const form = h('form', { class: 'message-composer', novalidate: true },
    h('label', { class: 'sr-only', for: inputId, text: 'Message' }),
    input, sendBtn);
  const thread = h('div', { class: 'thread' }, head, list, typingSlot, err.el, form);
  replace(pane, thread);

  // ---- header ----
  const renderHead = () => {
    const c = chat.conv(id);
    if (!c) return;
    const t = chat.title(c);
    titleEl.textContent = t;
    setTitle(t);
    const others = chat.others(c);
    const online = convOnline(c);
    presenceDot.dataset.online = String(online);
    if (c.kind === 'group') {
      const n = others.filter((m) => isOnline(m.username)).length;
      presenceText.textContent = `${others.length + 1} members${n ? ` · ${n} online` : ''}`;
    } else {
      presenceText.textContent = online ? 'Online' : 'Offline';
    }
    const who = c.kind === 'group' ? { username: t, display_name: t } : (others[0] || state.me);
    if (headAvatar.dataset.who !== who.username) {
      headAvatar.dataset.who = who.username;
      replace(headAvatar, avatar(who));
    }
  };

  // ---- messages ----
  const bySeq = new Map(); // seq -> li
  const byClient = new Map(); // client_msg_id -> li (pending)

  const atBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const toBottom = () => {
    list.scrollTop = list.scrollHeight;
  };
  /** Runs a DOM change, keeping the view pinned to the bottom if it was. */
  const mutate = (fn, force = false) => {
    const pinned = force || atBottom();
    fn();
    if (pinned) toBottom();
  };

  const isGroup = () => {
    const c = chat.conv(id);
    return !!c && c.kind === 'group';
  };

  const messageEl = (m, pending) => {
    const mine = isMe(m.sender);
    const sender = h('span', { class: ['message-sender', (mine || !isGroup()) ? 'sr-only' : null], testid: 'message-sender', text: m.sender || 'deleted user' });
    const meta = h('span', { class: 'message-meta' }, h('time', { datetime: m.created_at, text: clockTime(m.created_at) }));
    const li = h('li', {
      class: ['message', mine ? 'mine' : 'theirs', pending ? 'pending' : null],
      testid: 'message',
      dataset: { mine: String(mine), clientId: m.client_msg_id || null },
    },
    sender,
    h('div', { class: 'bubble', title: new Date(m.created_at).toLocaleString() }, h('p', { class: 'message-body', testid: 'message-body', text: m.body })),
    meta);
    if (!pending) li.dataset.seq = String(m.seq);
    li.kithMeta = meta;
    li.kithSender = m.sender;
    return li;
  };

  const firstPending = () => list.querySelector('.message.pending');

  const placeSeq = (li, seq) => {
    // Before the first message with a larger seq, else before any pending
    // one, else at the end (the receipt is placed afterwards).
    let before = null;
    for (const [s, el] of bySeq) {
      if (s > seq && (!before || s < Number(before.dataset.seq))) before = el;
    }
    if (!before) before = firstPending();
    list.insertBefore(li, before || null);
  };

  const markPendingState = (li, p) => {
    const meta = li.kithMeta;
    const failed = p.failed || (state.transport.state === 'open' && Date.now() - p.sentAt > UNACKED_AFTER_MS);
    const waiting = state.transport.state !== 'open';
    let note = meta.querySelector('.pending-note');
    if (!note) {
      note = h('span', { class: 'pending-note' });
      meta.append(note);
    }
    replace(note);
    if (failed) {
      li.classList.add('failed');
      note.append(h('span', { text: 'Not delivered · ' }),
        h('button', {
          type: 'button',
          class: 'link-btn',
          testid: 'message-retry',
          text: 'Retry',
          onclick: () => {
            p.failed = false;
            chat.transmit(p);
            markPendingState(li, p);
          },
        }));
    } else {
      li.classList.remove('failed');
      note.textContent = waiting ? 'Waiting for connection…' : 'Sending…';
    }
  };

  const addMessage = (m) => {
    if (bySeq.has(m.seq)) return false;
    const pendingLi = m.client_msg_id ? byClient.get(m.client_msg_id) : null;
    let li;
    if (pendingLi) {
      byClient.delete(m.client_msg_id);
      li = pendingLi;
      li.classList.remove('pending', 'failed');
      li.dataset.seq = String(m.seq);
      li.querySelector('.pending-note')?.remove();
      li.remove();
    } else {
      li = messageEl(m, false);
    }
    placeSeq(li, m.seq);
    bySeq.set(m.seq, li);
    return true;
  };

  const addPending = (p) => {
    if (byClient.has(p.client_msg_id)) return;
    const li = messageEl({ ...p, sender: state.me.username }, true);
    byClient.set(p.client_msg_id, li);
    list.insertBefore(li, null);
    markPendingState(li, p);
  };

  const regroup = () => {
    // Consecutive messages from one sender within 5 minutes form a group.
    let prev = null;
    for (const li of list.querySelectorAll('.message')) {
      const t = Date.parse(li.querySelector('time')?.dateTime || '') || 0;
      const same = prev && prev.kithSender === li.kithSender && Math.abs(t - prev.kithTime) < 300000;
      li.classList.toggle('cont', !!same);
      li.kithTime = t;
      prev = li;
    }
  };

  const updateReceipt = () => {
    let last = null;
    const mine = list.querySelectorAll('.message.mine[data-seq]');
    if (mine.length) last = mine[mine.length - 1];
    if (!last) {
      receipt.hidden = true;
      if (receipt.parentNode) receipt.remove();
      return;
    }
    if (last.nextSibling !== receipt) list.insertBefore(receipt, last.nextSibling);
    const seen = chat.othersRead(id) >= Number(last.dataset.seq);
    receipt.hidden = !seen;
    const c = chat.conv(id);
    if (c && c.kind === 'group' && seen) {
      const names = [...c.reads.entries()].filter(([u, s]) => !isMe(u) && s >= Number(last.dataset.seq)).map(([u]) => u);
      receipt.title = `Seen by ${names.join(', ')}`;
    } else {
      receipt.removeAttribute('title');
    }
  };

  const renderAll = () => {
    const c = chat.conv(id);
    if (!c) return;
    const seqs = [...c.messages.keys()].sort((a, b) => a - b);
    for (const s of seqs) addMessage(c.messages.get(s));
    for (const p of chat.pendingFor(id)) addPending(p);
    regroup();
    updateReceipt();
    renderOlder();
  };

  let loadingOlder = false;
  let historyFailed = false;
  const renderOlder = () => {
    const c = chat.conv(id);
    if (loadingOlder) replace(older, spinner('Loading older messages…'));
    else if (historyFailed) replace(older);
    else if (c && c.historyLoaded && !c.hasMoreBefore) {
      replace(older, h('span', { class: 'older-note', text: bySeq.size ? 'This is the beginning of the conversation.' : 'No messages yet — say hello!' }));
    } else replace(older);
  };

  const oldestSeq = () => {
    let min = Infinity;
    for (const s of bySeq.keys()) min = Math.min(min, s);
    return min === Infinity ? null : min;
  };

  const loadOlder = async () => {
    const c = chat.conv(id);
    if (!c || loadingOlder || !c.hasMoreBefore || !c.historyLoaded) return;
    const before = oldestSeq();
    if (before === null || before <= 1) {
      c.hasMoreBefore = false;
      renderOlder();
      return;
    }
    loadingOlder = true;
    renderOlder();
    const prevHeight = list.scrollHeight;
    const prevTop = list.scrollTop;
    try {
      const page = await chat.loadHistory(id, before);
      if (!alive) return;
      for (const m of page.items) addMessage(m);
      regroup();
      updateReceipt();
    } catch (e) {
      err.show(e);
    } finally {
      loadingOlder = false;
      if (alive) {
        renderOlder();
        // Keep what the reader was looking at in place.
        list.scrollTop = prevTop + (list.scrollHeight - prevHeight);
        fillUp();
      }
    }
  };

  // If the history does not fill the list yet, load more.
  const fillUp = () => {
    const c = chat.conv(id);
    if (c && c.hasMoreBefore && list.scrollHeight <= list.clientHeight + 8) loadOlder();
  };

  list.addEventListener('scroll', () => {
    if (list.scrollTop < 150) loadOlder();
  }, { passive: true });

  // ---- typing ----
  const renderTyping = () => {
    const who = chat.typers(id);
    if (!who.length) {
      typing.hidden = true;
      typing.textContent = '';
      return;
    }
    typing.hidden = false;
    typing.textContent = who.length === 1 ? `${who[0]} is typing…`
      : who.length === 2 ? `${who[0]} and ${who[1]} are typing…` : 'Several people are typing…';
  };

  let lastTyping = 0;
  input.addEventListener('input', () => {
    err.clear();
    if (!input.value.trim()) return;
    const now = Date.now();
    if (now - lastTyping >= TYPING_EVERY_MS) {
      if (sendFrame({ type: 'typing', conversation_id: id })) lastTyping = now;
    }
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const body = input.value;
    if (!body.trim()) return;
    if ([...body].length > MAX_BODY) {
      err.show(`A message can be at most ${MAX_BODY} characters.`);
      return;
    }
    if (!chat.conv(id)) {
      err.show('This conversation is not available.');
      return;
    }
    err.clear();
    input.value = '';
    lastTyping = 0;
    const p = chat.send(id, body);
    mutate(() => {
      addPending(p);
      regroup();
    }, true);
    input.focus();
  });

  // ---- events ----
  on('chat:message', (d) => {
    if (d.conversation_id !== id) return;
    mutate(() => {
      if (addMessage(d.message)) {
        regroup();
        updateReceipt();
        renderOlder();
      }
    }, isMe(d.message.sender));
    renderTyping();
  });
  on('chat:pending', (d) => {
    if (d.conversation_id !== id) return;
    if (d.pending) mutate(() => addPending(d.pending), true);
  });
  on('chat:read', (d) => {
    if (d.conversation_id !== id) return;
    mutate(updateReceipt);
  });
  on('chat:typing', (d) => {
    if (d.conversation_id === id) renderTyping();
  });
  on('chat:convs', () => {
    renderHead();
    // A conversation created elsewhere may only now be known.
    const c = chat.conv(id);
    if (c && !c.historyLoaded && !loadingFirst) loadFirst();
  });
  on('presence', renderHead);
  on('transport', () => {
    for (const [cid, li] of byClient) {
      const p = chat.pending.get(cid);
      if (p) markPendingState(li, p);
    }
  });
  timers.push(setInterval(() => {
    for (const [cid, li] of byClient) {
      const p = chat.pending.get(cid);
      if (p) markPendingState(li, p);
    }
    renderTyping();
  }, 1000));

  // ---- first load ----
  let loadingFirst = false;
  const loadFirst = async () => {
    loadingFirst = true;
    replace(older, spinner('Loading messages…'));
    try {
      await chat.loadHistory(id);
      if (!alive) return;
      historyFailed = false;
      mutate(renderAll, true);
      chat.markReadIfVisible(id);
      fillUp();
    } catch (e) {
      if (!alive) return;
      historyFailed = true;
      renderOlder();
      if (e.status === 404) {
        replace(pane, h('div', { class: 'thread-empty' },
          h('p', { class: 'empty-title', text: 'Conversation not found' }),
          h('p', { class: 'muted', text: 'It may not exist, or you are not a member.' }),
          h('a', { class: 'btn btn-secondary btn-sm back-always', href: '#/chat', text: 'Back to conversations' })));
      } else {
        err.show(messageOf(e));
      }
    } finally {
      loadingFirst = false;
    }
  };

  renderHead();
  const c = chat.conv(id);
  if (c && c.historyLoaded) {
    mutate(renderAll, true);
    chat.markReadIfVisible(id);
    fillUp();
  } else {
    loadFirst();
  }
  renderTyping();
  if (window.matchMedia('(min-width: 720px)').matches) input.focus({ preventScroll: true });

  return {
    dispose() {
      alive = false;
      for (const t of timers) clearInterval(t);
      for (const off of offs) off();
    },
  };
}
