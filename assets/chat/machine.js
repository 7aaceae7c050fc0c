// The chat state machine: conversations, their loaded messages, unsent
// messages, unread counts, read receipts and typing indicators, driven by
// realtime frames and API pages.
//
// Pure: it touches no DOM, network or timer of its own. Everything outside
// comes in through the `deps` given to the constructor (the clock, the
// realtime connection, the event bus, a timer scheduler), so tests drive it
// with fakes.
//
// Unread counts start from the API's list and then count each message with
// a seq not yet accounted for (above the list's `last_seq`, not seen
// before), so sync replays and duplicates never count twice.

import { EVENTS } from '../events.js';
import { SendPacer } from './pacing.js';

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
  /** client_msg_id -> { conversation_id, client_msg_id, body, media, created_at, sentAt, failed } */
  pending = new Map();
  /** id of the conversation on screen, or null */
  active = null;

  #deps;
  #pacer = new SendPacer();
  #pumpTimer = null;
  #refreshTimer = null;

  /** @param {ChatDeps} deps */
  constructor(deps) {
    this.#deps = deps;
  }

  reset() {
    this.convs.clear();
    this.pending.clear();
    this.#pacer.clear();
    this.#deps.timers.clear(this.#pumpTimer);
    this.loaded = false;
    this.active = null;
  }

  #isMe(username) {
    const me = this.#deps.me();
    return !!me && username === me;
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
      c = {
        id: view.id,
        kind: view.kind || 'direct',
        title: view.title || null,
        members: view.members || [],
        last_seq: 0,
        unread: 0,
        last_message: null,
        /** Messages at or below this seq are already in `unread`. */
        base: 0,
        /** Seqs above `base` already counted. */
        counted: new Set(),
        /** seq -> message, for loaded history */
        messages: new Map(),
        historyLoaded: false,
        hasMoreBefore: false,
        /** username -> seq read */
        reads: new Map(),
        readSent: 0,
        answeredAt: 0,
        /** username -> expiry ms */
        typing: new Map(),
        activity: 0,
      };
      this.convs.set(view.id, c);
    }
    return c;
  }

  /** Merges one conversation from the API's list. */
  merge(view) {
    const c = this.ensure(view);
    c.kind = view.kind || c.kind;
    c.title = view.title ?? c.title;
    if (view.members?.length) c.members = view.members;
    this.#mergeReads(c, view.read);
    if (view.last_seq >= c.last_seq) {
      c.unread = view.unread;
      c.last_seq = view.last_seq;
      c.base = Math.max(c.base, view.last_seq);
      if (view.last_message) c.last_message = view.last_message;
    }
    if (c.last_message) c.activity = Math.max(c.activity, Date.parse(c.last_message.created_at) || 0);
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

  /** Conversations, most recently active first. */
  list() {
    return [...this.convs.values()].sort((a, b) => b.activity - a.activity || b.last_seq - a.last_seq);
  }

  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
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

  /** Adds a message (from a frame, an ack or the REST history); true when it was new. */
  addMessage(m) {
    let c = this.convs.get(m.conversation_id);
    let unknown = false;
    if (!c) {
      c = this.ensure({ id: m.conversation_id });
      unknown = true;
    }
    const isNew = !c.messages.has(m.seq);
    if (isNew) c.messages.set(m.seq, m);
    if (m.client_msg_id && this.pending.has(m.client_msg_id) && this.#isMe(m.sender)) {
      this.pending.delete(m.client_msg_id);
      this.#emit(EVENTS.CHAT_PENDING, { conversation_id: m.conversation_id, client_msg_id: m.client_msg_id, message: m });
    }
    let counted = false;
    if (m.seq > c.base && !c.counted.has(m.seq)) {
      c.counted.add(m.seq);
      counted = true;
      if (!this.#isMe(m.sender) && !this.isVisible(c.id)) c.unread += 1;
    }
    if (m.seq >= c.last_seq) {
      c.last_seq = m.seq;
      c.last_message = m;
      c.activity = Math.max(c.activity, Date.parse(m.created_at) || this.#deps.now());
    }
    if (m.sender && c.typing.delete(m.sender)) this.#emit(EVENTS.CHAT_TYPING, { conversation_id: c.id });
    if (isNew || counted) this.#emit(EVENTS.CHAT_MESSAGE, { conversation_id: c.id, message: m, isNew });
    if (counted) this.#emit(EVENTS.CHAT_UNREAD);
    if (unknown) this.refreshSoon();
    return isNew;
  }

  onMessageFrame(f) {
    const c = this.convs.get(f.conversation_id);
    // A hole before this seq (a frame lost on the way): ask for it.
    if (c?.historyLoaded && f.seq > c.last_seq + 1 && c.last_seq > 0) {
      this.#deps.send({ type: 'sync', conversation_id: c.id, after_seq: c.last_seq });
    }
    this.addMessage(f);
    this.markReadIfVisible(f.conversation_id);
  }

  onAck(f) {
    const p = this.pending.get(f.client_msg_id);
    if (!p) return;
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
    });
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
      // Read on another device.
      c.readSent = Math.max(c.readSent, f.seq);
      const unread = Math.max(0, c.last_seq - f.seq);
      if (unread < c.unread) {
        c.unread = unread;
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
    if (c.unread !== 0) {
      c.unread = 0;
      this.#emit(EVENTS.CHAT_UNREAD);
    }
    if (seq > 0 && seq > c.readSent) {
      if (this.#deps.send({ type: 'read', conversation_id: id, seq })) c.readSent = seq;
    }
  }

  /**
   * Sends a new message; returns its pending entry. `media`: the uploads it
   * carries, [{ id, alt }] in order (docs/media.md); the body may then be empty.
   */
  send(conversationId, body, media = []) {
    const now = this.#deps.now();
    const p = {
      conversation_id: conversationId,
      client_msg_id: this.#deps.newId(),
      body,
      media: media.map(({ id, alt }) => ({ id, alt: alt || '' })),
      created_at: new Date(now).toISOString(),
      sentAt: now,
      failed: false,
    };
    this.pending.set(p.client_msg_id, p);
    this.transmit(p);
    this.#emit(EVENTS.CHAT_PENDING, { conversation_id: conversationId, client_msg_id: p.client_msg_id, pending: p });
    return p;
  }

  /** Queues a pending message for sending (again), paced by pacing.js. */
  transmit(p) {
    p.sentAt = this.#deps.now();
    this.#pacer.enqueue(p);
    this.#pump();
  }

  #pump() {
    this.#deps.timers.clear(this.#pumpTimer);
    this.#pumpTimer = null;
    const retryIn = this.#pacer.drain(this.#deps.now(), (p) => {
      // Acked meanwhile: nothing to send.
      if (!this.pending.has(p.client_msg_id)) return false;
      p.sentAt = this.#deps.now();
      // Not connected: resync() resends it once the connection is back.
      const frame = { type: 'send', conversation_id: p.conversation_id, client_msg_id: p.client_msg_id, body: p.body };
      if (p.media?.length) frame.media = p.media;
      return this.#deps.send(frame);
    });
    if (retryIn !== null) this.#pumpTimer = this.#deps.timers.set(() => this.#pump(), retryIn);
  }

  pendingFor(id) {
    return [...this.pending.values()].filter((p) => p.conversation_id === id);
  }

  /**
   * After (re)connecting: ask for everything after the last seq seen in
   * every known conversation, then resend what was never acked (resends
   * are idempotent by client_msg_id).
   */
  resync() {
    for (const c of this.convs.values()) {
      this.#deps.send({ type: 'sync', conversation_id: c.id, after_seq: c.last_seq });
    }
    for (const p of this.pending.values()) {
      p.failed = false;
      this.transmit(p);
    }
    if (this.active) this.markReadIfVisible(this.active);
  }

  /**
   * Takes a page of history: the newest (`beforeSeq` null) or the one
   * before `beforeSeq`.
   */
  applyHistory(id, page, beforeSeq = null) {
    const c = this.ensure({ id });
    for (const m of page.items) {
      if (!c.messages.has(m.seq)) c.messages.set(m.seq, m);
    }
    if (beforeSeq === null) {
      c.historyLoaded = true;
      c.hasMoreBefore = page.has_more;
      if (page.last_seq > c.last_seq) {
        c.last_seq = page.last_seq;
        const last = page.items[page.items.length - 1];
        if (last) c.last_message = last;
      }
      c.base = Math.max(c.base, page.last_seq);
    } else {
      c.hasMoreBefore = page.has_more;
    }
  }

  /** Reloads the conversation list soon (once for a burst of calls). */
  refreshSoon() {
    this.#deps.timers.clear(this.#refreshTimer);
    this.#refreshTimer = this.#deps.timers.set(() => this.#deps.refreshList(), LIST_REFRESH_DELAY_MS);
  }
}
