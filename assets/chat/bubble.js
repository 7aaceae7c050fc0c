// One message of a thread on the page: who sent it, the quote it answers,
// its body (or "This message was unsent"), its photos and videos, "Edited",
// the reactions under it and its time. `fill` draws a message again in
// place when an event changes it, keeping the element (and the focus).

import { mediaGrid } from '../mediakit/grid.js';
import { isMe } from '../store.js';
import { richText } from '../text.js';
import { clockTime } from '../time.js';
import { h, replace } from '../ui.js';

/** What an unsent message says, to everyone. */
export const UNSENT_TEXT = 'This message was unsent';

/** "Alice", "Alice and you", "Alice, Bob and you": who reacted. */
export function peopleList(users, nameOf) {
  const names = users.filter((u) => !isMe(u)).map(nameOf);
  if (users.some((u) => isMe(u))) names.push('you');
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

function fullTime(iso) {
  return Number.isNaN(Date.parse(iso)) ? null : new Date(iso).toLocaleString();
}

/**
 * A message's element. `opts`: { pending, group (show the sender), vctx
 * (the thread's view context, for media), nameOf(username), menu (its
 * messageMenu, or null), onQuote(seq), onReact(emoji, on), canReact()
 * (whether the reader may react: still a member) }.
 */
export function messageEl(m, opts) {
  const mine = isMe(m.sender);
  const sender = h('span', { class: ['message-sender', (mine || !opts.group) ? 'sr-only' : null], testid: 'message-sender', text: m.sender || 'deleted user' });
  const meta = h('span', { class: 'message-meta' },
    h('time', { datetime: m.created_at, title: fullTime(m.created_at), text: clockTime(m.created_at) }));
  const bubble = h('div', { class: 'bubble' });
  const line = h('div', { class: 'message-line' }, bubble, opts.menu ? opts.menu.el : null);
  const reactions = h('div', { class: 'reactions', testid: 'reactions', hidden: true });
  const li = h('div', {
    class: ['message', mine ? 'mine' : 'theirs', opts.pending ? 'pending' : null],
    testid: 'message',
    tabindex: '-1',
    dataset: { mine: String(mine), clientId: m.client_msg_id || null, at: m.created_at },
  }, sender, line, reactions, meta);
  if (!opts.pending) li.dataset.seq = String(m.seq);
  if (opts.menu) opts.menu.pressTarget(bubble);
  const parts = { li, meta, bubble, reactions, sender: m.sender, opts };
  fill(parts, m);
  return parts;
}

/** Draws message `m` into the parts `messageEl` made (again, after a change). */
export function fill(parts, m) {
  const { li, bubble, reactions, opts } = parts;
  const focused = document.activeElement;
  const focusedEmoji = reactions.contains(focused) ? focused.dataset.emoji : null;
  const quoteFocused = bubble.contains(focused);

  li.classList.toggle('unsent', !!m.unsent);
  const media = !m.unsent && m.media?.length ? m.media : null;
  bubble.className = ['bubble', media ? 'has-media' : null, m.unsent ? 'is-unsent' : null].filter(Boolean).join(' ');
  const q = m.reply_to;
  const quote = q && !m.unsent
    ? h('button', {
      type: 'button',
      class: 'reply-quote',
      testid: 'reply-quote',
      dataset: { seq: String(q.seq) },
      title: 'Show that message',
      onclick: () => opts.onQuote(q.seq),
    },
    // Named by what it shows, read as a sentence.
    h('span', { class: 'sr-only', text: 'In reply to ' }),
    h('span', { class: 'reply-quote-sender', text: q.sender ? (isMe(q.sender) ? 'You' : opts.nameOf(q.sender)) : 'deleted user' }),
    h('span', { class: 'sr-only', text: ': ' }),
    h('span', { class: ['reply-quote-text', q.unsent ? 'is-unsent' : null], text: q.unsent ? UNSENT_TEXT : q.excerpt }))
    : null;
  let body = null;
  if (m.unsent) {
    body = h('p', { class: 'message-unsent', testid: 'message-unsent', text: UNSENT_TEXT });
  } else if (m.body || !media) {
    // The server's resolved mentions link; without them (a message still
    // on its way), every @name does.
    body = h('p', { class: 'message-body', testid: 'message-body' }, richText(m.body || '', Array.isArray(m.mentions) ? { mentions: m.mentions } : undefined));
  }
  const edited = m.edited_at && !m.unsent
    ? h('span', { class: 'message-edited', testid: 'message-edited', title: fullTime(m.edited_at) ? `Edited ${fullTime(m.edited_at)}` : null, text: 'Edited' })
    : null;
  replace(bubble, quote, body, media ? mediaGrid(media, opts.vctx, { compact: true }) : null, edited);
  if (quoteFocused && quote) quote.focus({ preventScroll: true });

  const list = m.unsent ? [] : (m.reactions || []).filter((r) => r.users?.length);
  const can = opts.canReact();
  reactions.hidden = !list.length;
  replace(reactions, list.map((r) => {
    const on = r.users.some((u) => isMe(u));
    const who = peopleList(r.users, opts.nameOf);
    const n = r.users.length;
    return h('button', {
      type: 'button',
      class: ['reaction-chip', on ? 'is-mine' : null],
      testid: 'reaction-chip',
      dataset: { emoji: r.emoji, count: String(n) },
      'aria-pressed': on ? 'true' : 'false',
      'aria-label': `${r.emoji} ${n} ${n === 1 ? 'reaction' : 'reactions'}, from ${who}`,
      title: `${who}${can ? (on ? ' · click to take yours back' : ' · click to react too') : ''}`,
      disabled: !can,
      onclick: () => opts.onReact(r.emoji, !on),
    }, h('span', { class: 'reaction-emoji', 'aria-hidden': 'true', text: r.emoji }), h('span', { class: 'reaction-count', 'aria-hidden': 'true', text: String(n) }));
  }));
  if (focusedEmoji) {
    const again = reactions.querySelector(`[data-emoji="${focusedEmoji}"]`);
    if (again) again.focus({ preventScroll: true });
    else opts.menu?.button.focus({ preventScroll: true });
  }
  parts.message = m;
}
