// One conversation: its history (loaded upward as the reader scrolls) of
// messages and of the group's changes (centered lines), live messages with
// their photos and videos, replies, edits, unsends and reactions as they
// happen, pending sends, typing and read receipts. The header is
// chat-head.js; the composer, chat-composer.js; a message's element,
// chat/bubble.js; its actions, chat/message-menu.js.

import { fill, messageEl } from '../chat/bubble.js';
import { chat, learnNames, loadConversation, loadHistory } from '../chat/client.js';
import { reacted } from '../chat/items.js';
import { systemText } from '../chat/members.js';
import { messageMenu } from '../chat/message-menu.js';
import { bus } from '../bus.js';
import { confirmAction } from '../confirm.js';
import { EVENTS } from '../events.js';
import { acceptFiles } from '../mediakit/file-drop.js';
import { openReport } from '../report.js';
import { isMe, state } from '../store.js';
import { toast } from '../toast.js';
import { dayKey, dayLabel } from '../time.js';
import { h, messageOf, replace, spinner } from '../ui.js';
import { createViewContext } from '../view-context.js';
import { threadComposer } from './chat-composer.js';
import { threadHead } from './chat-head.js';

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
/** Looking for a quoted message loads at most this many older pages. */
const QUOTE_SEARCH_PAGES = 25;
/** How long the message a quote leads to stays highlighted. */
const FLASH_MS = 1600;

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

/** Shows conversation `id` in `pane`; returns { dispose } to take it down. */
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

  /** A member's name as the thread shows it. */
  const nameOf = (username) => chat.nameOf(id, username);

  // A log (role=log, read out as it grows), so its rows are divs: list
  // items may only sit in a list.
  const older = h('div', { class: 'older', 'aria-hidden': 'true' });
  const receipt = h('div', { class: 'read-receipt', testid: 'read-receipt', hidden: true, text: 'Seen' });
  const list = h('div', { class: 'messages', testid: 'messages', tabindex: '0', 'aria-label': 'Messages', role: 'log', 'aria-live': 'polite' }, older);
  const typing = h('p', { class: 'typing-indicator', testid: 'typing-indicator', hidden: true, 'aria-live': 'polite' });
  const typingSlot = h('div', { class: 'typing-slot' }, typing);

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

  /** Our newest message that may still be edited (the up arrow in the field). */
  const lastOwn = () => {
    const c = chat.conv(id);
    if (!c) return null;
    let best = null;
    for (const m of c.messages.values()) {
      if (isMe(m.sender) && !m.unsent && (!best || m.seq > best.seq)) best = m;
    }
    return best ? chat.view(id, best.seq) : null;
  };

  const composer = threadComposer(id, {
    nameOf,
    lastOwn,
    onSent: (p) => mutate(() => {
      addPending(p);
      regroup();
    }, true),
  });
  const head = threadHead(id);
  const renderHead = head.render;
  const thread = h('div', { class: 'thread' }, head.el, list, typingSlot, composer.el);
  const stopDrop = acceptFiles(thread, composer.addFiles);
  replace(pane, thread);

  // ---- rows: messages and the group's lines ----
  /** seq -> row (a message's element or a line) */
  const bySeq = new Map();
  /** seq -> a stored message's parts (bubble.js) */
  const parts = new Map();
  /** client_msg_id -> a pending message's parts */
  const byClient = new Map();

  const unsend = async (m) => {
    const sure = await confirmAction({
      title: 'Unsend this message?',
      body: 'It is removed for everyone in this conversation, with its photos, videos and reactions.',
      confirmLabel: 'Unsend',
    });
    if (sure && alive) chat.unsend(id, m.seq);
  };

  const copy = (text) => {
    navigator.clipboard?.writeText(text).then(() => toast('Copied.'), () => toast('Could not copy the text.', 'error'));
  };

  /** The actions of stored message `seq`, read afresh each time they open. */
  const menuFor = (m) => messageMenu({
    label: isMe(m.sender) ? 'Actions for your message' : `Actions for ${m.sender ? nameOf(m.sender) : 'a deleted user'}'s message`,
    build: () => {
      const c = chat.conv(id);
      const cur = chat.view(id, m.seq);
      if (!c || !cur || cur.unsent) return { reactions: null, items: [] };
      const mine = isMe(cur.sender);
      const member = !c.left;
      const me = state.me?.username;
      return {
        reactions: member ? { has: (emoji) => reacted(cur, emoji, me), pick: (emoji, yes) => chat.react(id, cur.seq, emoji, !yes) } : null,
        items: [
          member && { label: 'Reply', testid: 'message-reply', onSelect: () => composer.reply(cur) },
          member && mine && { label: 'Edit', testid: 'message-edit', onSelect: () => composer.edit(cur) },
          cur.body && { label: 'Copy text', testid: 'message-copy', onSelect: () => copy(cur.body) },
          member && mine && { label: 'Unsend', testid: 'message-unsend', danger: true, onSelect: () => unsend(cur) },
          !mine && cur.sender && cur.message_id && {
            label: 'Report message',
            testid: 'report-message',
            onSelect: (opener) => openReport({ kind: 'message', id: cur.message_id, about: `${cur.sender}'s message`, opener }),
          },
        ],
      };
    },
  });

  const bubbleOpts = (m, pending) => ({
    pending,
    group: chat.conv(id)?.kind === 'group',
    vctx,
    nameOf,
    menu: pending || m.unsent ? null : menuFor(m),
    onQuote: (seq) => scrollToSeq(seq),
    onReact: (emoji, yes) => chat.react(id, m.seq, emoji, !yes),
    canReact: () => !chat.conv(id)?.left,
  });

  const firstPending = () => list.querySelector('.message.pending');

  const placeSeq = (row, seq) => {
    // Before the first row with a larger seq, else before any pending
    // message, else at the end (the receipt is placed afterwards).
    let before = null;
    let beforeSeq = Infinity;
    for (const [s, el] of bySeq) {
      if (s > seq && s < beforeSeq) {
        before = el;
        beforeSeq = s;
      }
    }
    if (!before) before = firstPending();
    list.insertBefore(row, before || null);
  };

  const markPendingState = (p) => {
    const { li, meta } = byClient.get(p.client_msg_id);
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
            markPendingState(p);
          },
        }));
    } else {
      li.classList.remove('failed');
      note.textContent = waiting ? 'Waiting for connection…' : 'Sending…';
    }
  };

  const addMessage = (m) => {
    if (bySeq.has(m.seq)) return false;
    const pending = m.client_msg_id ? byClient.get(m.client_msg_id) : null;
    if (pending) {
      byClient.delete(m.client_msg_id);
      pending.li.remove();
    }
    const p = messageEl(chat.view(id, m.seq) || m, bubbleOpts(m, false));
    placeSeq(p.li, m.seq);
    bySeq.set(m.seq, p.li);
    parts.set(m.seq, p);
    return true;
  };

  /** Draws stored message `seq` again (an edit, an unsend, a reaction). */
  const updateMessage = (seq) => {
    const p = parts.get(seq);
    const m = chat.view(id, seq);
    if (!p || !m) return;
    if (m.unsent && p.opts.menu) {
      const hadFocus = p.opts.menu.el.contains(document.activeElement);
      p.opts.menu.el.remove();
      p.opts.menu = null;
      if (hadFocus) p.li.focus({ preventScroll: true });
      composer.forget(seq);
    }
    fill(p, m);
  };

  const addSystem = (e) => {
    if (bySeq.has(e.seq)) return false;
    const text = systemText(e, nameOf, state.me?.username);
    if (!text) return false;
    learnNamesOf(e);
    const row = h('div', { class: 'system-line', testid: 'system-line', dataset: { seq: String(e.seq), kind: e.kind, at: e.created_at } },
      h('span', { text }));
    placeSeq(row, e.seq);
    bySeq.set(e.seq, row);
    return true;
  };

  /**
   * Looks up the names of a line's people whom no member list gave (they
   * left before this page loaded); the line is worded again once they
   * come. Members' names come with the list.
   */
  const learnNamesOf = (e) => {
    const c = chat.conv(id);
    if (!chat.loaded || !c) return;
    const unknown = [e.user, e.actor].filter((u) => u && !isMe(u) && !chat.names.has(u) && !c.members.some((m) => m.username === u));
    if (unknown.length) learnNames(unknown);
  };

  /** Words the lines again: a name may arrive after the line that holds it. */
  const rewordLines = () => {
    const c = chat.conv(id);
    if (!c) return;
    for (const row of list.querySelectorAll('.system-line')) {
      const e = c.events.get(Number(row.dataset.seq));
      if (e) learnNamesOf(e);
      const text = e && systemText(e, nameOf, state.me?.username);
      if (text && row.textContent !== text) row.firstElementChild.textContent = text;
    }
  };

  const addPending = (p) => {
    if (byClient.has(p.client_msg_id)) return;
    const b = messageEl({ ...p, sender: state.me.username }, bubbleOpts(p, true));
    byClient.set(p.client_msg_id, b);
    list.insertBefore(b.li, null);
    markPendingState(p);
  };

  const regroup = () => {
    let prevSender;
    let prevTime = 0;
    let first = true;
    let prevDay = '';
    for (const sep of list.querySelectorAll('.day-sep')) sep.remove();
    for (const row of list.querySelectorAll('.message, .system-line')) {
      const iso = row.dataset.at || '';
      const t = Date.parse(iso) || 0;
      // A heading above the first row of each day ("Today", "Yesterday", …).
      const day = dayKey(iso);
      if (day && day !== prevDay) {
        list.insertBefore(h('div', { class: 'day-sep', testid: 'day-separator' }, h('span', { text: dayLabel(iso) })), row);
        prevDay = day;
        first = true;
      }
      if (row.classList.contains('system-line')) {
        // A line breaks a run of messages.
        first = true;
        continue;
      }
      const sender = row.dataset.clientId && byClient.has(row.dataset.clientId)
        ? state.me?.username
        : parts.get(Number(row.dataset.seq))?.sender;
      const same = !first && prevSender === sender && Math.abs(t - prevTime) < GROUP_WINDOW_MS;
      row.classList.toggle('cont', same);
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

  /** Adds every loaded message and line not on the page yet; true when any was. */
  const syncRows = () => {
    const c = chat.conv(id);
    if (!c) return false;
    let added = false;
    const seqs = [...c.messages.keys(), ...c.events.keys()].sort((a, b) => a - b);
    for (const s of seqs) {
      const m = c.messages.get(s);
      added = (m ? addMessage(m) : addSystem(c.events.get(s))) || added;
    }
    return added;
  };

  const renderAll = () => {
    syncRows();
    for (const p of chat.pendingFor(id)) addPending(p);
    regroup();
    updateReceipt();
    renderOlder();
  };

  let olderLoad = null;
  let historyFailed = false;
  const renderOlder = () => {
    const c = chat.conv(id);
    if (olderLoad) replace(older, spinner('Loading older messages…'));
    else if (historyFailed) replace(older);
    else if (c?.historyLoaded && !c.hasMoreBefore) {
      replace(older, h('span', { class: 'older-note', text: parts.size || bySeq.size ? 'This is the beginning of the conversation.' : 'No messages yet — say hello!' }));
    } else replace(older);
  };

  /** Loads the page before the oldest item loaded; resolves when it is shown. */
  const loadOlder = () => {
    const c = chat.conv(id);
    if (olderLoad) return olderLoad;
    if (!c?.hasMoreBefore || !c.historyLoaded) return Promise.resolve();
    const before = c.oldestSeq;
    if (!before || before <= 1) {
      c.hasMoreBefore = false;
      renderOlder();
      return Promise.resolve();
    }
    const prevHeight = list.scrollHeight;
    const prevTop = list.scrollTop;
    olderLoad = (async () => {
      try {
        await loadHistory(id, before);
        if (!alive) return;
        syncRows();
        regroup();
        updateReceipt();
      } catch (e) {
        composer.err.show(e);
      } finally {
        olderLoad = null;
        if (alive) {
          renderOlder();
          // Keep what the reader was looking at in place.
          list.scrollTop = prevTop + (list.scrollHeight - prevHeight);
          fillUp();
        }
      }
    })();
    renderOlder();
    return olderLoad;
  };

  // If the history does not fill the list yet, load more.
  const fillUp = () => {
    const c = chat.conv(id);
    if (c?.hasMoreBefore && list.scrollHeight <= list.clientHeight + 8) loadOlder();
  };

  list.addEventListener('scroll', () => {
    if (list.scrollTop < LOAD_OLDER_WITHIN_PX) loadOlder();
  }, { passive: true });

  /** Shows message `seq` (a quote leads there), loading older pages until it is found. */
  const scrollToSeq = async (seq) => {
    for (let i = 0; i < QUOTE_SEARCH_PAGES && !bySeq.has(seq) && alive; i += 1) {
      const c = chat.conv(id);
      if (!c?.hasMoreBefore) break;
      await loadOlder();
    }
    if (!alive) return;
    const row = bySeq.get(seq);
    if (!row) {
      toast('That message is not in this conversation any more.');
      return;
    }
    const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
    row.scrollIntoView({ block: 'center', behavior: smooth ? 'smooth' : 'auto' });
    row.classList.add('flash');
    timers.push(setTimeout(() => row.classList.remove('flash'), FLASH_MS));
    row.focus({ preventScroll: true });
  };

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

  // ---- events ----
  on(EVENTS.MEDIA_CHANGED, (v) => composer.mediaChanged(v));
  on(EVENTS.CHAT_MESSAGE, (d) => {
    if (d.conversation_id !== id) return;
    const seq = d.message.seq;
    if (bySeq.has(seq)) {
      mutate(() => updateMessage(seq));
      return;
    }
    if (!chat.conv(id)?.messages.has(seq)) return;
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
    if (d.failed) toast('That change could not be made: no answer from the server.', 'error');
  });
  on(EVENTS.CHAT_READ, (d) => {
    if (d.conversation_id !== id) return;
    mutate(updateReceipt);
  });
  on(EVENTS.CHAT_TYPING, (d) => {
    if (d.conversation_id === id) renderTyping();
  });
  on(EVENTS.CHAT_CONVERSATIONS, (d) => {
    if (d?.conversation_id && d.conversation_id !== id) return;
    renderHead();
    composer.render();
    // A conversation created elsewhere may only now be known.
    const c = chat.conv(id);
    if (c && !c.historyLoaded && !loadingFirst) {
      loadFirst();
      return;
    }
    mutate(() => {
      if (syncRows()) {
        regroup();
        updateReceipt();
      }
      rewordLines();
    });
  });
  on(EVENTS.PRESENCE_CHANGED, renderHead);
  const markAllPending = () => {
    for (const cid of byClient.keys()) {
      const p = chat.pending.get(cid);
      if (p) markPendingState(p);
    }
  };
  on(EVENTS.TRANSPORT_CHANGED, markAllPending);
  timers.push(setInterval(() => {
    markAllPending();
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
        composer.err.show(messageOf(e));
      }
    } finally {
      loadingFirst = false;
    }
  };

  renderHead();
  const c = chat.conv(id);
  // Not in the list loaded (new since, or opened by its address): its
  // title, members and standing, read on their own.
  if (!c?.members.length) loadConversation(id).catch(() => {});
  if (c?.historyLoaded) {
    mutate(renderAll, true);
    chat.markReadIfVisible(id);
    fillUp();
  } else {
    loadFirst();
  }
  renderTyping();
  if (window.matchMedia('(min-width: 720px)').matches && !c?.left) composer.focus({ preventScroll: true });

  return {
    dispose() {
      alive = false;
      vctx.dispose();
      stopDrop();
      composer.dispose();
      for (const t of timers) {
        clearInterval(t);
        clearTimeout(t);
      }
      for (const off of offs) off();
    },
  };
}
