// The chat state machine: conversations, their loaded messages and group
// events, messages and changes not yet acknowledged, unread and mention
// counts, read receipts and typing indicators, driven by realtime frames
// and API pages. What an event does to a message is items.js; to a group,
// members.js.
//
// Pure: it touches no DOM, network or timer of its own. Everything outside
// comes in through the `deps` given to the constructor (the clock, the
// realtime connection, the event bus, a timer scheduler), so tests drive it
// with fakes.
//
// Unread counts start from the API's list and then count each message with
// a seq not yet accounted for (above the list's `last_seq`, not seen
// before), so sync replays and duplicates never count twice. Events take
// seqs too but never count; a counted message that is unsent stops
// counting, as the server's count does.

import { EVENTS } from '../events.js';
import { mentions as mentionsOf } from '../text.js';
import { applyChange, clockOf, MESSAGE_KINDS, overlay, requote } from './items.js';
import { newConversation, mergeView } from './conversation.js';
import { applyGroupEvent, GROUP_KINDS } from './members.js';
import { Outbox } from './outbox.js';

/**
 * How long a typing indicator lasts after the last `typing` frame. Senders
 * repeat the frame every 1.5 s while typing, so one lost repeat does not
 * make the indicator flicker off, and it is gone soon after they stop.
 */
export const TYPING_TTL_MS = 3000;

/**
 * The typing check runs this long after the indicator should end, so that
 * the entry has surely expired when it is looked at (timers may fire a
 * little early).
 */
export const TYPING_CHECK_SLACK_MS = 50;

/**
 * Another member's `read` is answered with ours at most this often per
 * conversation: enough for a page that just opened to learn where we are,
 * without two members' answers bouncing back and forth.
 */
export const READ_ANSWER_EVERY_MS = 10000;

/**
 * A message for a conversation not in the list reloads the list after this
 * quiet time, so a burst of such messages costs one request.
 */
export const LIST_REFRESH_DELAY_MS = 150;

const sameName = (a, b) => typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();

/**
 * @typedef {object} ChatDeps
 * @property {() => (string|null)} me the signed-in username
 * @property {() => number} now the clock, in ms
 * @property {() => boolean} pageVisible whether the page is on screen
 * @property {(frame: object) => boolean} send a realtime frame; false when not connected
 * @property {(type: string, detail?: object) => void} emit an event (events.js)
 * @property {{ set: (fn: () => void, ms: number) => unknown, clear: (handle: unknown) => void }} timers
 * @property {() => string} newId a fresh client_msg_id
 * @property {() => void} refreshList reloads the conversation list
 */

export class ChatMachine {
  /** id -> conversation (ConversationView plus client fields) */
  convs = new Map();
  /** Whether the conversation list has loaded once. */
  loaded = false;
  /** id of the conversation on screen, or null */
  active = null;
  /**
   * username -> display name, of everyone seen a member of any
   * conversation (or looked up): a group's lines name former members too.
   */
  names = new Map();

  #deps;
  #outbox;
  #refreshTimer = null;

  /** @param {ChatDeps} deps */
  constructor(deps) {
    this.#deps = deps;
    this.#outbox = new Outbox(deps, (a) => {
      this.#emit(EVENTS.CHAT_PENDING, { conversation_id: a.conversation_id, client_msg_id: a.client_msg_id, failed: a });
      this.#redraw(a.conversation_id, a.seq);
    });
  }

  /** client_msg_id -> our message waiting for its ack (outbox.js). */
  get pending() {
    return this.#outbox.pending;
  }

  /** client_msg_id -> our edit, unsend or reaction waiting for its ack (outbox.js). */
  get actions() {
    return this.#outbox.actions;
  }

  reset() {
    this.convs.clear();
    this.names.clear();
    this.#outbox.clear();
    this.loaded = false;
    this.active = null;
  }

  #isMe(username) {
    return sameName(username, this.#deps.me());
  }

  #emit(type, detail) {
    this.#deps.emit(type, detail);
  }

  conv(id) {
    return this.convs.get(id) || null;
  }

  ensure(view) {
    let c = this.convs.get(view.id);
    if (!c) {
      c = newConversation(view);
      this.convs.set(view.id, c);
    }
    return c;
  }

  /** Merges one conversation from the API (the list, or one conversation). */
  merge(view) {
    const c = this.ensure(view);
    mergeView(c, view);
    // The server's members only: one added by an event is a placeholder until then.
    for (const m of view.members || []) this.names.set(m.username, m.display_name || m.username);
    this.#mergeReads(c, view.read);
    return c;
  }

  /** Takes the API's conversation list (most recently active first). */
  applyList(items) {
    items.forEach((v, i) => {
      const c = this.merge(v);
      // No message yet: keep the list's order among such conversations.
      if (!c.activity) c.activity = -i;
    });
    this.loaded = true;
    this.#emit(EVENTS.CHAT_CONVERSATIONS);
    this.#emit(EVENTS.CHAT_UNREAD);
  }

  /** Takes one conversation read again (`GET /api/conversations/{id}`). */
  applyConversation(view) {
    this.merge(view);
    this.#emit(EVENTS.CHAT_CONVERSATIONS);
    this.#emit(EVENTS.CHAT_UNREAD);
  }

  /** Conversations, most recently active first. */
  list() {
    return [...this.convs.values()].sort((a, b) => b.activity - a.activity || b.last_seq - a.last_seq);
  }

  /** Unread messages across conversations, for the app's badge: muted ones stay quiet. */
  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) if (!c.muted) n += c.unread;
    return n;
  }

  /** The name to show for `username` in conversation `id` (a display name once known). */
  nameOf(id, username) {
    // A member added by an event has only a username until the list comes.
    return this.names.get(username) || this.convs.get(id)?.members.find((x) => x.username === username)?.display_name || username;
  }

  /** Takes display names looked up (username -> name) and has the lines worded again. */
  learnNames(found) {
    for (const [u, name] of found) this.names.set(u, name || u);
    this.#emit(EVENTS.CHAT_CONVERSATIONS);
  }

  /** The other members of a conversation. */
  others(c) {
    return (c.members || []).filter((m) => !this.#isMe(m.username));
  }

  title(c) {
    if (c.title) return c.title;
    const others = this.others(c);
    if (!others.length) {
      if (c.kind === 'direct') return 'deleted user';
      return this.#deps.me() || 'Just you';
    }
    return others.map((m) => m.username).join(', ');
  }

  /** Is this conversation on screen right now? */
  isVisible(id) {
    return this.active === id && this.#deps.pageVisible();
  }

  #mentionsMe(m) {
    return (m.mentions || []).some((n) => this.#isMe(n));
  }

  /** The members `body` names with @ (not the writer), as the server resolves them. */
  #mentionsIn(c, body) {
    const out = [];
    for (const name of mentionsOf(body)) {
      const member = (c.members || []).find((m) => sameName(m.username, name));
      if (member && !this.#isMe(member.username)) out.push(member.username);
    }
    return out;
  }

  /**
   * Adds a message (from a frame, an ack or the REST history); true when it
   * was new. `floor`: the seq its snapshot reads as of (its own when live).
   */
  addMessage(m, floor = m.seq) {
    let c = this.convs.get(m.conversation_id);
    let unknown = false;
    if (!c) {
      c = this.ensure({ id: m.conversation_id });
      unknown = true;
    }
    const isNew = !c.messages.has(m.seq);
    if (isNew) {
      c.messages.set(m.seq, m);
      c.clocks.set(m.seq, clockOf(floor));
    }
    if (m.client_msg_id && this.pending.has(m.client_msg_id) && this.#isMe(m.sender)) {
      this.pending.delete(m.client_msg_id);
      this.#emit(EVENTS.CHAT_PENDING, { conversation_id: m.conversation_id, client_msg_id: m.client_msg_id, message: m });
    }
    let counted = false;
    let unreadMoved = false;
    if (m.seq > c.base && !c.counted.has(m.seq)) {
      c.counted.add(m.seq);
      counted = true;
      if (!this.#isMe(m.sender) && !m.unsent && !this.isVisible(c.id)) {
        c.unread += 1;
        c.unreadSeqs.add(m.seq);
        unreadMoved = true;
        if (this.#mentionsMe(m)) {
          c.mentions += 1;
          c.mentionSeqs.add(m.seq);
        }
      }
    }
    if (m.seq > c.last_seq) c.last_seq = m.seq;
    if (!c.last_message || m.seq >= c.last_message.seq) {
      c.last_message = c.messages.get(m.seq) || m;
      c.activity = Math.max(c.activity, Date.parse(m.created_at) || this.#deps.now());
    }
    if (m.sender && c.typing.delete(m.sender)) this.#emit(EVENTS.CHAT_TYPING, { conversation_id: c.id });
    if (isNew || counted) this.#emit(EVENTS.CHAT_MESSAGE, { conversation_id: c.id, message: m, isNew });
    if (unreadMoved) this.#emit(EVENTS.CHAT_UNREAD);
    if (unknown) this.refreshSoon();
    return isNew;
  }

  /** Asks for what follows the last seq seen when `seq` lies past a hole (a frame lost on the way). */
  #fillHole(c, seq) {
    if (c?.historyLoaded && seq > c.last_seq + 1 && c.last_seq > 0 && !c.left) {
      this.#deps.send({ type: 'sync', conversation_id: c.id, after_seq: c.last_seq });
    }
  }

  onMessageFrame(f) {
    this.#fillHole(this.convs.get(f.conversation_id), f.seq);
    this.addMessage(f);
    this.markReadIfVisible(f.conversation_id);
  }

  /** An `event` frame, live or replayed. */
  onEventFrame(f) {
    this.#fillHole(this.convs.get(f.conversation_id), f.seq);
    this.applyEvent(f);
    this.markReadIfVisible(f.conversation_id);
  }

  /**
   * Applies an event (a frame, or an item of a page when `quiet`: the
   * caller then announces the change once). Kinds it does not know only
   * take their seq. Returns whether the thread's lines or the group
   * changed.
   */
  applyEvent(e, { quiet = false } = {}) {
    if (!Number.isFinite(e.seq)) return false;
    let c = this.convs.get(e.conversation_id);
    if (!c) {
      c = this.ensure({ id: e.conversation_id });
      // Added to a group: the list brings it.
      this.refreshSoon();
    }
    if (e.seq > c.last_seq) c.last_seq = e.seq;
    if (MESSAGE_KINDS.has(e.kind)) {
      this.#changeMessage(c, e, quiet);
      return false;
    }
    if (!GROUP_KINDS.has(e.kind)) return false;
    const isNew = !c.events.has(e.seq);
    if (isNew) c.events.set(e.seq, e);
    const changed = applyGroupEvent(c, e, this.#deps.me());
    if (isNew) c.activity = Math.max(c.activity, Date.parse(e.created_at) || 0);
    if (changed) {
      if (c.left) c.typing.clear();
      // New members' names and pictures, our own new standing: from the list.
      if (e.kind === 'member_added' || (this.#isMe(e.user) && e.kind === 'role_changed')) this.refreshSoon();
    }
    if (!quiet && (isNew || changed)) this.#emit(EVENTS.CHAT_CONVERSATIONS, { conversation_id: c.id, event: e });
    return changed || isNew;
  }

  /** What an edit, unsend or reaction does to its message and to the replies quoting it. */
  #changeMessage(c, e, quiet) {
    const seq = e.target_seq;
    if (e.kind === 'unsend' && c.unreadSeqs.delete(seq)) {
      c.unread = Math.max(0, c.unread - 1);
      if (c.mentionSeqs.delete(seq)) c.mentions = Math.max(0, c.mentions - 1);
      if (!quiet) this.#emit(EVENTS.CHAT_UNREAD);
    }
    const stored = c.messages.get(seq);
    const target = stored || (c.last_message?.seq === seq ? c.last_message : null);
    if (!target) return;
    let clock = c.clocks.get(seq);
    if (!clock) {
      // The list's last message reads as of the list.
      clock = clockOf(c.base);
      c.clocks.set(seq, clock);
    }
    const next = applyChange(target, clock, e);
    if (!next) return;
    if (stored) c.messages.set(seq, next);
    if (c.last_message?.seq === seq) c.last_message = next;
    if (!quiet) this.#emit(EVENTS.CHAT_MESSAGE, { conversation_id: c.id, message: next, isNew: false });
    for (const [s, m] of c.messages) {
      const quoting = requote(m, next);
      if (!quoting) continue;
      c.messages.set(s, quoting);
      if (c.last_message?.seq === s) c.last_message = quoting;
      if (!quiet) this.#emit(EVENTS.CHAT_MESSAGE, { conversation_id: c.id, message: quoting, isNew: false });
    }
  }

  onAck(f) {
    const action = this.#outbox.takeChange(f.client_msg_id);
    if (action) {
      this.#acked(action, f);
      return;
    }
    const p = this.pending.get(f.client_msg_id);
    if (!p) return;
    const c = this.convs.get(f.conversation_id);
    this.addMessage({
      conversation_id: f.conversation_id,
      seq: f.seq,
      message_id: f.message_id,
      sender: this.#deps.me(),
      body: p.body,
      // Our own uploads, by id: their views are in the store (media/grid.js looks them up).
      media: p.media || [],
      client_msg_id: f.client_msg_id,
      created_at: p.created_at,
      reply_to: p.reply_to || null,
      edited_at: null,
      unsent: false,
      reactions: [],
      mentions: c ? this.#mentionsIn(c, p.body) : [],
    });
  }

  /**
   * Our edit, unsend or reaction is stored as item `f.seq`. The server
   * sends its event to everyone but this connection, so it is applied
   * here as that event would be.
   */
  #acked(a, f) {
    const c = this.convs.get(a.conversation_id);
    if (!c) return;
    // Only a seq right after the last one seen: one further on would hide a hole.
    if (f.seq === c.last_seq + 1) c.last_seq = f.seq;
    const kind = a.kind === 'react' ? (a.remove ? 'unreact' : 'react') : a.kind;
    const e = {
      conversation_id: a.conversation_id,
      seq: f.seq,
      actor: this.#deps.me(),
      created_at: a.created_at,
      kind,
      target_seq: a.seq,
      body: a.body,
      mentions: a.kind === 'edit' ? this.#mentionsIn(c, a.body) : undefined,
      edited_at: a.created_at,
      emoji: a.emoji,
    };
    this.#changeMessage(c, e, false);
    // Without the pending overlay now, changed or not.
    this.#redraw(c.id, a.seq);
  }

  /** Message `seq` as it shows here: with our changes still waiting for the server. */
  view(id, seq) {
    const c = this.convs.get(id);
    const m = c?.messages.get(seq);
    if (!m) return null;
    const mine = this.#outbox.changesTo(id, seq);
    return mine.length ? overlay(m, mine, this.#deps.me()) : m;
  }

  /** Tells the thread to draw message `seq` again. */
  #redraw(id, seq) {
    const m = this.view(id, seq);
    if (m) this.#emit(EVENTS.CHAT_MESSAGE, { conversation_id: id, message: m, isNew: false });
  }

  /** A sync is complete: the conversation is known up to `last_seq`. */
  onSynced(f) {
    const c = this.convs.get(f.conversation_id);
    if (!c) return;
    if (f.last_seq > c.last_seq) c.last_seq = f.last_seq;
    this.#mergeReads(c, f.read);
    this.markReadIfVisible(c.id);
  }

  /**
   * Takes the server's read positions (`[{user, seq}]`, from the list or a
   * `synced`): positions only move forward, so the higher of what we hold
   * and what it says wins. This is what makes "Seen" right after a reload.
   */
  #mergeReads(c, read) {
    if (!Array.isArray(read)) return;
    let moved = false;
    for (const r of read) {
      if (!r || typeof r.user !== 'string' || !Number.isFinite(r.seq)) continue;
      if (this.#isMe(r.user)) {
        c.readSent = Math.max(c.readSent, r.seq);
      } else if (r.seq > (c.reads.get(r.user) || 0)) {
        c.reads.set(r.user, r.seq);
        moved = true;
      }
    }
    if (moved) this.#emit(EVENTS.CHAT_READ, { conversation_id: c.id });
  }

  onRead(f) {
    const c = this.convs.get(f.conversation_id);
    if (!c) return;
    if (this.#isMe(f.user)) {
      // Read on another device: what is left unread is what we counted
      // after it, plus at most one for each item between it and the list's
      // last seq.
      c.readSent = Math.max(c.readSent, f.seq);
      for (const s of [...c.unreadSeqs]) {
        if (s <= f.seq) c.unreadSeqs.delete(s);
      }
      for (const s of [...c.mentionSeqs]) {
        if (s <= f.seq) c.mentionSeqs.delete(s);
      }
      const before = Math.min(c.listUnread, Math.max(0, c.base - f.seq));
      const unread = Math.min(c.unread, before + c.unreadSeqs.size);
      if (unread < c.unread) {
        c.unread = unread;
        c.listUnread = Math.min(c.listUnread, before);
        c.mentions = Math.min(c.mentions, unread === 0 ? 0 : c.mentions);
        this.#emit(EVENTS.CHAT_UNREAD);
      }
      return;
    }
    const prev = c.reads.get(f.user) || 0;
    if (f.seq > prev) c.reads.set(f.user, f.seq);
    this.#emit(EVENTS.CHAT_READ, { conversation_id: c.id, user: f.user, seq: f.seq });
    this.announceRead(c);
  }

  /**
   * A page learns read positions from the list and each `synced`; live
   * ones arrive as `read` frames. When another member's `read` arrives, answer (at most every
   * READ_ANSWER_EVERY_MS per conversation) with our own: the server never
   * moves a read position backwards and fans out the position it holds, so
   * even seq 0 tells them where we are.
   */
  announceRead(c) {
    if (c.left) return;
    const now = this.#deps.now();
    if (now - c.answeredAt < READ_ANSWER_EVERY_MS) return;
    if (this.#deps.send({ type: 'read', conversation_id: c.id, seq: c.readSent })) c.answeredAt = now;
  }

  onTyping(f) {
    if (this.#isMe(f.user)) return;
    const c = this.convs.get(f.conversation_id);
    if (!c) return;
    c.typing.set(f.user, this.#deps.now() + TYPING_TTL_MS);
    this.#emit(EVENTS.CHAT_TYPING, { conversation_id: c.id });
    this.#deps.timers.set(() => {
      const exp = c.typing.get(f.user);
      if (exp && exp <= this.#deps.now()) {
        c.typing.delete(f.user);
        this.#emit(EVENTS.CHAT_TYPING, { conversation_id: c.id });
      }
    }, TYPING_TTL_MS + TYPING_CHECK_SLACK_MS);
  }

  /** Who is typing in a conversation now. */
  typers(id) {
    const c = this.convs.get(id);
    if (!c) return [];
    const now = this.#deps.now();
    return [...c.typing.entries()].filter(([, exp]) => exp > now).map(([u]) => u);
  }

  /** Highest seq another member has read. */
  othersRead(id) {
    const c = this.convs.get(id);
    if (!c) return 0;
    let max = 0;
    for (const [u, s] of c.reads) if (!this.#isMe(u)) max = Math.max(max, s);
    return max;
  }

  /** Tells the server we have read this conversation, if it is on screen. */
  markReadIfVisible(id) {
    const c = this.convs.get(id);
    if (!c || !this.isVisible(id)) return;
    const seq = c.last_seq;
    if (c.unread !== 0 || c.mentions !== 0) {
      c.unread = 0;
      c.mentions = 0;
      c.listUnread = 0;
      c.unreadSeqs.clear();
      c.mentionSeqs.clear();
      this.#emit(EVENTS.CHAT_UNREAD);
    }
    // A former member's position no longer moves.
    if (seq > 0 && seq > c.readSent && !c.left) {
      if (this.#deps.send({ type: 'read', conversation_id: id, seq })) c.readSent = seq;
    }
  }

  /**
   * Sends a new message; returns its pending entry. `media`: the uploads it
   * carries, [{ id, alt }] in order (docs/media.md); the body may then be
   * empty. `replyTo`: the message it answers, quoted as it reads now.
   */
  send(conversationId, body, media = [], replyTo = null) {
    const p = this.#outbox.message(conversationId, body, media, replyTo);
    this.#emit(EVENTS.CHAT_PENDING, { conversation_id: conversationId, client_msg_id: p.client_msg_id, pending: p });
    return p;
  }

  /** Replaces the body of our message `seq`. */
  edit(conversationId, seq, body) {
    return this.#act({ kind: 'edit', conversation_id: conversationId, seq, body });
  }

  /** Takes our message `seq` back, for everyone. */
  unsend(conversationId, seq) {
    return this.#act({ kind: 'unsend', conversation_id: conversationId, seq });
  }

  /** Adds (or with `remove`, takes back) our reaction `emoji` to message `seq`. */
  react(conversationId, seq, emoji, remove = false) {
    return this.#act({ kind: 'react', conversation_id: conversationId, seq, emoji, remove: !!remove });
  }

  #act(fields) {
    const a = this.#outbox.change(fields);
    this.#redraw(a.conversation_id, a.seq);
    return a;
  }

  /** Queues a pending message for sending again (a retry). */
  transmit(p) {
    this.#outbox.transmit(p);
  }

  pendingFor(id) {
    return [...this.pending.values()].filter((p) => p.conversation_id === id);
  }

  /**
   * After (re)connecting: ask for everything after the last seq seen in
   * every known conversation (a former member's history is complete),
   * then resend what was never acked (resends are idempotent by
   * client_msg_id).
   */
  resync({ sync = true } = {}) {
    // After a `resume` (realtime-dispatch.js) the server has sent what was
    // missed in every conversation at once: only the outbox goes again.
    for (const c of sync ? this.convs.values() : []) {
      if (!c.left) this.#deps.send({ type: 'sync', conversation_id: c.id, after_seq: c.last_seq });
    }
    this.#outbox.resend();
    if (this.active) this.markReadIfVisible(this.active);
  }

  /**
   * Takes a page of history (messages and events, as `GET …/messages`
   * lists them): the newest (`beforeSeq` null) or the one before
   * `beforeSeq`. Each message reads as of the page's `last_seq`.
   */
  applyHistory(id, page, beforeSeq = null) {
    const c = this.ensure({ id });
    const items = [...page.items].sort((a, b) => a.seq - b.seq);
    const asOf = page.last_seq ?? 0;
    if (items.length) c.oldestSeq = Math.min(c.oldestSeq ?? Infinity, items[0].seq);
    let groupChanged = false;
    let lastMessage = null;
    for (const it of items) {
      if (it.type === 'event') {
        groupChanged = this.applyEvent({ ...it, conversation_id: id }, { quiet: true }) || groupChanged;
        continue;
      }
      lastMessage = it;
      const had = c.clocks.get(it.seq);
      // A snapshot replaces what we hold unless what we hold is newer.
      const older = had && (had.floor > asOf || [...had.keys.values()].some((s) => s > asOf));
      if (!c.messages.has(it.seq) || !older) {
        c.messages.set(it.seq, it);
        c.clocks.set(it.seq, clockOf(asOf));
      }
    }
    if (beforeSeq === null) {
      c.historyLoaded = true;
      c.hasMoreBefore = page.has_more;
      if (page.last_seq > c.last_seq) c.last_seq = page.last_seq;
      if (lastMessage && (!c.last_message || lastMessage.seq >= c.last_message.seq)) c.last_message = c.messages.get(lastMessage.seq);
      c.base = Math.max(c.base, page.last_seq);
    } else {
      c.hasMoreBefore = page.has_more;
    }
    if (groupChanged) this.#emit(EVENTS.CHAT_CONVERSATIONS, { conversation_id: id });
  }

  /** Reloads the conversation list soon (once for a burst of calls). */
  refreshSoon() {
    this.#deps.timers.clear(this.#refreshTimer);
    this.#refreshTimer = this.#deps.timers.set(() => this.#deps.refreshList(), LIST_REFRESH_DELAY_MS);
  }
}
