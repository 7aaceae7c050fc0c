// One conversation: its history (loaded upward as the reader scrolls),
// live messages with their photos and videos, pending sends, attachments
// being uploaded, typing, read receipts and the other members' presence.

import { bus } from '../bus.js';
import { chat, loadHistory } from '../chat/client.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { Attachments, MAX_ITEMS } from '../mediakit/attachments.js';
import { attachmentTray, filePicker } from '../mediakit/composer-files.js';
import { acceptFiles } from '../mediakit/file-drop.js';
import { mediaGrid } from '../mediakit/grid.js';
import { moreMenu } from '../menu.js';
import { openReport } from '../report.js';
import { setTitle } from '../router.js';
import { fetchMedia, isMe, isOnline, sendFrame, state } from '../store.js';
import { richText } from '../text.js';
import { clockTime, dayKey, dayLabel } from '../time.js';
import { avatar, formError, h, messageOf, replace, spinner, uid } from '../ui.js';
import { createViewContext } from '../view-context.js';

/** Our `typing` frames go out at most this often: the server passes them on no more often (docs/protocol.md). */
const TYPING_EVERY_MS = 1500;
/** The server's limit on a message's length, in characters. */
const MAX_BODY = 4000;
/** An unacked message is shown as not delivered after this long on an open connection. */
const UNACKED_AFTER_MS = 10000;
/** Consecutive messages from one sender this close in time share one header. */
const GROUP_WINDOW_MS = 5 * 60 * 1000;
/** Pending messages and typing indicators are re-checked this often. */
const THREAD_TICK_MS = 1000;
/** Within this many px of the bottom, the message list counts as pinned there. */
const PINNED_WITHIN_PX = 48;
/** Older history loads when the reader scrolls within this many px of the top. */
const LOAD_OLDER_WITHIN_PX = 150;

/**
 * Attachments being uploaded, per signed-in user and conversation: they
 * outlive the open thread, so switching conversations mid-upload loses
 * nothing.
 */
const drafts = new Map();

function draftFiles(conversationId) {
  const owner = state.me?.id || '';
  for (const key of drafts.keys()) {
    // Another user's drafts (signed out and in as someone else) go.
    if (!key.startsWith(`${owner}:`)) {
      drafts.get(key).clear({ cancel: true });
      drafts.delete(key);
    }
  }
  const key = `${owner}:${conversationId}`;
  if (!drafts.has(key)) drafts.set(key, new Attachments({ scope: owner, fetchView: fetchMedia }));
  return drafts.get(key);
}

/** Any other member online? */
export function convOnline(c) {
  return chat.others(c).some((m) => isOnline(m.username));
}

/** Shows conversation `id` in `pane`; returns { dispose } to take it down. */
/** Most names "Seen by" lists before it says "and N others". */
const SEEN_NAMES = 2;

/**
 * Who in group `c` has read up to `seq`, in words: "Seen by everyone",
 * "Seen by Bob", "Seen by Bob and Carol", "Seen by Bob, Carol and 3 others".
 */
export function seenBy(c, seq) {
  const others = (c.members || []).filter((m) => !isMe(m.username));
  const readers = others.filter((m) => (c.reads.get(m.username) || 0) >= seq);
  if (!readers.length) return 'Seen';
  if (others.length > 1 && readers.length === others.length) return 'Seen by everyone';
  const names = readers.map((m) => m.display_name || m.username);
  if (names.length <= SEEN_NAMES) return `Seen by ${names.join(' and ')}`;
  const rest = names.length - SEEN_NAMES;
  return `Seen by ${names.slice(0, SEEN_NAMES).join(', ')} and ${rest} ${rest === 1 ? 'other' : 'others'}`;
}

export function openThread(pane, id) {
  const offs = [];
  const on = (type, fn) => {
    offs.push(bus.on(type, (d) => {
      if (alive) fn(d);
    }));
  };
  const timers = [];
  let alive = true;
  // For the message grids: their listeners and checks end with the thread.
  const vctx = createViewContext();

  const c0 = chat.conv(id);
  const titleEl = h('h2', { class: 'chat-title', testid: 'chat-title', text: c0 ? chat.title(c0) : 'Conversation' });
  const presenceDot = h('span', { class: 'presence-dot', testid: 'chat-presence', dataset: { online: 'false' } });
  const presenceText = h('span', { class: 'muted small' });
  const headAvatar = h('span', { class: 'avatar-wrap' });
  const back = h('a', { class: 'btn btn-ghost btn-icon back-link', href: '#/chat', 'aria-label': 'Back to conversations' }, icon('back'));
  const head = h('header', { class: 'thread-head' },
    back, headAvatar,
    h('div', { class: 'thread-id' }, titleEl, h('div', { class: 'thread-presence' }, presenceDot, presenceText)));

  // A log (role=log, read out as it grows), so its rows are divs: list
  // items may only sit in a list.
  const older = h('div', { class: 'older', 'aria-hidden': 'true' });
  const receipt = h('div', { class: 'read-receipt', testid: 'read-receipt', hidden: true, text: 'Seen' });
  const list = h('div', { class: 'messages', testid: 'messages', tabindex: '0', 'aria-label': 'Messages', role: 'log', 'aria-live': 'polite' }, older);
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

  // ---- attachments ----
  const files = draftFiles(id);
  const addFiles = (list) => {
    err.clear();
    const { refused } = files.add(list);
    if (refused) err.show(`A message can carry at most ${MAX_ITEMS} photos and videos; ${refused === 1 ? 'one file was' : `${refused} files were`} left out.`);
  };
  const picker = filePicker({ testid: 'message-attach', label: 'Attach photos or videos', iconName: 'paperclip', compact: true, onFiles: addFiles });
  const tray = attachmentTray(files, { compact: true, label: 'Photos and videos for this message' });
  const renderFiles = () => {
    tray.update();
    const waiting = files.count > 0 && !files.sendable;
    sendBtn.disabled = waiting;
    sendBtn.title = files.uploading ? 'Waiting for uploads…' : files.failed ? 'Remove the failed file to send' : '';
  };
  files.onChange = renderFiles;

  const form = h('form', { class: 'message-composer', novalidate: true },
    picker.button, picker.input,
    h('label', { class: 'sr-only', for: inputId, text: 'Message' }),
    input, sendBtn);
  const thread = h('div', { class: 'thread' }, head, list, typingSlot, err.el, tray.el, form);
  const stopDrop = acceptFiles(thread, addFiles);
  replace(pane, thread);
  renderFiles();

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
  /** li -> { meta, sender }: what regrouping and pending notes need of a message element. */
  const info = new WeakMap();

  const atBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < PINNED_WITHIN_PX;
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
    // Someone else's message can be reported to the admins.
    const report = !mine && !pending && m.message_id && m.sender
      ? moreMenu([{ label: 'Report message', testid: 'report-message', onSelect: (opener) => openReport({ kind: 'message', id: m.message_id, about: `${m.sender}'s message`, opener }) }],
        { label: `More actions for ${m.sender}'s message`, testid: 'message-menu', cls: 'message-more' })
      : null;
    const meta = h('span', { class: 'message-meta' },
      h('time', { datetime: m.created_at, title: Number.isNaN(Date.parse(m.created_at)) ? null : new Date(m.created_at).toLocaleString(), text: clockTime(m.created_at) }),
      report);
    const li = h('div', {
      class: ['message', mine ? 'mine' : 'theirs', pending ? 'pending' : null],
      testid: 'message',
      dataset: { mine: String(mine), clientId: m.client_msg_id || null },
    },
    sender,
    h('div', { class: ['bubble', m.media?.length ? 'has-media' : null] },
      m.body || !m.media?.length ? h('p', { class: 'message-body', testid: 'message-body' }, richText(m.body || '')) : null,
      m.media?.length ? mediaGrid(m.media, vctx, { compact: true }) : null),
    meta);
    if (!pending) li.dataset.seq = String(m.seq);
    info.set(li, { meta, sender: m.sender });
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
    const { meta } = info.get(li);
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
    let prevSender;
    let prevTime = 0;
    let first = true;
    let prevDay = '';
    for (const sep of list.querySelectorAll('.day-sep')) sep.remove();
    for (const li of list.querySelectorAll('.message')) {
      const iso = li.querySelector('time')?.dateTime || '';
      const t = Date.parse(iso) || 0;
      // A heading above the first message of each day ("Today", "Yesterday", …).
      const day = dayKey(iso);
      if (day && day !== prevDay) {
        list.insertBefore(h('div', { class: 'day-sep', testid: 'day-separator' }, h('span', { text: dayLabel(iso) })), li);
        prevDay = day;
        first = true;
      }
      const { sender } = info.get(li);
      const same = !first && prevSender === sender && Math.abs(t - prevTime) < GROUP_WINDOW_MS;
      li.classList.toggle('cont', same);
      prevSender = sender;
      prevTime = t;
      first = false;
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
    receipt.textContent = c && c.kind === 'group' && seen ? seenBy(c, Number(last.dataset.seq)) : 'Seen';
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
    else if (c?.historyLoaded && !c.hasMoreBefore) {
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
      const page = await loadHistory(id, before);
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
    if (c?.hasMoreBefore && list.scrollHeight <= list.clientHeight + 8) loadOlder();
  };

  list.addEventListener('scroll', () => {
    if (list.scrollTop < LOAD_OLDER_WITHIN_PX) loadOlder();
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
    if (files.count && !files.sendable) {
      err.show(files.uploading ? 'Wait for the uploads to finish, then send.' : 'Remove the file that failed, then send.');
      return;
    }
    const media = files.payload();
    if (!body.trim() && !media.length) return;
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
    const p = chat.send(id, media.length && !body.trim() ? '' : body, media);
    // Attached now: the uploads stay, only the draft lets go of them.
    files.clear();
    mutate(() => {
      addPending(p);
      regroup();
    }, true);
    input.focus();
  });

  // ---- events ----
  on(EVENTS.MEDIA_CHANGED, (v) => files.mediaChanged(v));
  const online = () => renderFiles();
  window.addEventListener('online', online);
  window.addEventListener('offline', online);
  on(EVENTS.CHAT_MESSAGE, (d) => {
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
  on(EVENTS.CHAT_PENDING, (d) => {
    if (d.conversation_id !== id) return;
    if (d.pending) mutate(() => addPending(d.pending), true);
  });
  on(EVENTS.CHAT_READ, (d) => {
    if (d.conversation_id !== id) return;
    mutate(updateReceipt);
  });
  on(EVENTS.CHAT_TYPING, (d) => {
    if (d.conversation_id === id) renderTyping();
  });
  on(EVENTS.CHAT_CONVERSATIONS, () => {
    renderHead();
    // A conversation created elsewhere may only now be known.
    const c = chat.conv(id);
    if (c && !c.historyLoaded && !loadingFirst) loadFirst();
  });
  on(EVENTS.PRESENCE_CHANGED, renderHead);
  on(EVENTS.TRANSPORT_CHANGED, () => {
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
  }, THREAD_TICK_MS));

  // ---- first load ----
  let loadingFirst = false;
  const loadFirst = async () => {
    loadingFirst = true;
    replace(older, spinner('Loading messages…'));
    try {
      await loadHistory(id);
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
  if (c?.historyLoaded) {
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
      vctx.dispose();
      stopDrop();
      tray.dispose();
      window.removeEventListener('online', online);
      window.removeEventListener('offline', online);
      if (files.onChange === renderFiles) files.onChange = () => {};
      for (const t of timers) clearInterval(t);
      for (const off of offs) off();
    },
  };
}
