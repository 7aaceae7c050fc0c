// Client state shared by the views, kept current by the realtime frames,
// and a tiny event bus to tell views about changes.

import { api, qs, enc } from './api.js';

// ---- event bus ------------------------------------------------------------

const listeners = new Map();

export const bus = {
  on(type, fn) {
    if (!listeners.has(type)) listeners.set(type, new Set());
    listeners.get(type).add(fn);
    return () => listeners.get(type)?.delete(fn);
  },
  emit(type, detail) {
    for (const fn of [...(listeners.get(type) || [])]) {
      try {
        fn(detail);
      } catch (e) {
        // A broken listener must not break the others.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  },
};

// ---- state ----------------------------------------------------------------

export const state = {
  me: null,
  /** username -> true while online (from presence frames) */
  presence: new Map(),
  notifUnread: 0,
  /** media id -> MediaView */
  media: new Map(),
  transport: { kind: 'none', state: 'closed' },
  realtime: null,
};

export function isMe(username) {
  return !!state.me && username === state.me.username;
}

export function resetState() {
  state.me = null;
  state.presence.clear();
  state.notifUnread = 0;
  state.media.clear();
  chat.reset();
}

/** Sends a frame over the realtime connection; false when not connected. */
export function sendFrame(frame) {
  return state.realtime ? state.realtime.send(frame) : false;
}

// ---- presence -------------------------------------------------------------

export function isOnline(username) {
  return state.presence.get(username) === true;
}

export function setPresence(username, online) {
  if (online) state.presence.set(username, true);
  else state.presence.delete(username);
  bus.emit('presence', { user: username, online });
}

export function clearPresence() {
  state.presence.clear();
  bus.emit('presence', { user: null, online: false });
}

// ---- notifications --------------------------------------------------------

export function setNotifUnread(n) {
  state.notifUnread = Math.max(0, n | 0);
  bus.emit('notif-count', state.notifUnread);
}

export async function refreshNotifCount() {
  try {
    const page = await api.get('/api/notifications?limit=1');
    setNotifUnread(page.unread);
  } catch {
    // keep the old count
  }
}

// ---- media ----------------------------------------------------------------

export function setMedia(view) {
  if (!view || !view.id) return;
  const old = state.media.get(view.id);
  // Frames may arrive out of order with a fetch; never go back from a
  // final state.
  if (old && (old.status === 'ready' || old.status === 'failed') && old.status !== view.status) return;
  if (old && old.status === view.status && (old.progress || 0) > (view.progress || 0)) return;
  state.media.set(view.id, view);
  bus.emit('media', view);
}

export async function fetchMedia(id) {
  const view = await api.get(`/api/media/${enc(id)}`);
  setMedia(view);
  return state.media.get(id) || view;
}

// ---- chat -----------------------------------------------------------------

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * Conversations, their loaded messages, unsent messages, read receipts
 * and typing indicators.
 *
 * Unread counts start from the API's list and then count each message
 * with a seq not yet accounted for (above the list's `last_seq`, not seen
 * before), so sync replays and duplicates never count twice.
 */
export const chat = {
  /** id -> conversation (ConversationView plus client fields) */
  convs: new Map(),
  loaded: false,
  /** client_msg_id -> { conversation_id, client_msg_id, body, created_at, sentAt, failed } */
  pending: new Map(),
  /** id of the conversation on screen, or null */
  active: null,

  reset() {
    this.convs.clear();
    this.pending.clear();
    this._queue = [];
    clearTimeout(this._pumpTimer);
    this.loaded = false;
    this.active = null;
  },

  conv(id) {
    return this.convs.get(id) || null;
  },

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
        base: 0,
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
  },

  /** Merges one conversation from the API's list. */
  merge(view) {
    const c = this.ensure(view);
    c.kind = view.kind || c.kind;
    c.title = view.title ?? c.title;
    if (view.members && view.members.length) c.members = view.members;
    if (view.last_seq >= c.last_seq) {
      c.unread = view.unread;
      c.last_seq = view.last_seq;
      c.base = Math.max(c.base, view.last_seq);
      if (view.last_message) c.last_message = view.last_message;
    }
    if (c.last_message) c.activity = Math.max(c.activity, Date.parse(c.last_message.created_at) || 0);
    return c;
  },

  async load() {
    const items = [];
    let cursor = null;
    // A few pages at most; enough for anyone's sidebar.
    for (let i = 0; i < 5; i += 1) {
      const page = await api.get(`/api/conversations${qs({ limit: 100, cursor })}`);
      items.push(...page.items);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    items.forEach((v, i) => {
      const c = this.merge(v);
      if (!c.activity) c.activity = -i;
    });
    this.loaded = true;
    bus.emit('chat:convs');
    bus.emit('chat:unread');
    return items;
  },

  /** Conversations, most recently active first. */
  list() {
    return [...this.convs.values()].sort((a, b) => (b.activity - a.activity) || (b.last_seq - a.last_seq));
  },

  totalUnread() {
    let n = 0;
    for (const c of this.convs.values()) n += c.unread;
    return n;
  },

  /** The other members of a conversation. */
  others(c) {
    return (c.members || []).filter((m) => !isMe(m.username));
  },

  title(c) {
    if (c.title) return c.title;
    const others = this.others(c);
    if (!others.length) {
      if (c.kind === 'direct') return 'deleted user';
      return state.me ? state.me.username : 'Just you';
    }
    return others.map((m) => m.username).join(', ');
  },

  /** Is this conversation on screen right now? */
  isVisible(id) {
    return this.active === id && document.visibilityState === 'visible';
  },

  /** Adds a message (from a frame, an ack or the REST history). */
  addMessage(m) {
    let c = this.convs.get(m.conversation_id);
    let unknown = false;
    if (!c) {
      c = this.ensure({ id: m.conversation_id });
      unknown = true;
    }
    const isNew = !c.messages.has(m.seq);
    if (isNew) c.messages.set(m.seq, m);
    if (m.client_msg_id && this.pending.has(m.client_msg_id) && isMe(m.sender)) {
      this.pending.delete(m.client_msg_id);
      bus.emit('chat:pending', { conversation_id: m.conversation_id, client_msg_id: m.client_msg_id, message: m });
    }
    let counted = false;
    if (m.seq > c.base && !c.counted.has(m.seq)) {
      c.counted.add(m.seq);
      counted = true;
      if (!isMe(m.sender) && !this.isVisible(c.id)) c.unread += 1;
    }
    if (m.seq >= c.last_seq) {
      c.last_seq = m.seq;
      c.last_message = m;
      c.activity = Math.max(c.activity, Date.parse(m.created_at) || Date.now());
    }
    if (m.sender && c.typing.delete(m.sender)) bus.emit('chat:typing', { conversation_id: c.id });
    if (isNew || counted) bus.emit('chat:message', { conversation_id: c.id, message: m, isNew });
    if (counted) bus.emit('chat:unread');
    if (unknown) this.refreshSoon();
    return isNew;
  },

  onMessageFrame(f) {
    const c = this.convs.get(f.conversation_id);
    // A hole before this seq (a frame lost on the way): ask for it.
    if (c && c.historyLoaded && f.seq > c.last_seq + 1 && c.last_seq > 0) {
      sendFrame({ type: 'sync', conversation_id: c.id, after_seq: c.last_seq });
    }
    this.addMessage(f);
    this.markReadIfVisible(f.conversation_id);
  },

  onAck(f) {
    const p = this.pending.get(f.client_msg_id);
    if (!p) return;
    this.addMessage({
      conversation_id: f.conversation_id,
      seq: f.seq,
      message_id: f.message_id,
      sender: state.me ? state.me.username : null,
      body: p.body,
      client_msg_id: f.client_msg_id,
      created_at: p.created_at,
    });
  },

  onSynced(f) {
    const c = this.convs.get(f.conversation_id);
    if (!c) return;
    if (f.last_seq > c.last_seq) c.last_seq = f.last_seq;
    bus.emit('chat:synced', { conversation_id: c.id });
    this.markReadIfVisible(c.id);
  },

  onRead(f) {
    const c = this.convs.get(f.conversation_id);
    if (!c) return;
    if (isMe(f.user)) {
      // Read on another device.
      c.readSent = Math.max(c.readSent, f.seq);
      const unread = Math.max(0, c.last_seq - f.seq);
      if (unread < c.unread) {
        c.unread = unread;
        bus.emit('chat:unread');
      }
      return;
    }
    const prev = c.reads.get(f.user) || 0;
    if (f.seq > prev) c.reads.set(f.user, f.seq);
    bus.emit('chat:read', { conversation_id: c.id, user: f.user, seq: f.seq });
    this.announceRead(c);
  },

  /**
   * Read positions are only ever pushed, so a page that just opened knows
   * nobody's. When another member's `read` arrives, answer (at most every
   * 10 s per conversation) with our own: the server never moves a read
   * position backwards and fans out the position it holds, so even seq 0
   * tells them where we are.
   */
  announceRead(c) {
    const now = Date.now();
    if (now - c.answeredAt < 10000) return;
    if (sendFrame({ type: 'read', conversation_id: c.id, seq: c.readSent })) c.answeredAt = now;
  },

  onTyping(f) {
    if (isMe(f.user)) return;
    const c = this.convs.get(f.conversation_id);
    if (!c) return;
    c.typing.set(f.user, Date.now() + 3000);
    bus.emit('chat:typing', { conversation_id: c.id });
    setTimeout(() => {
      const exp = c.typing.get(f.user);
      if (exp && exp <= Date.now()) {
        c.typing.delete(f.user);
        bus.emit('chat:typing', { conversation_id: c.id });
      }
    }, 3050);
  },

  typers(id) {
    const c = this.convs.get(id);
    if (!c) return [];
    const now = Date.now();
    return [...c.typing.entries()].filter(([, exp]) => exp > now).map(([u]) => u);
  },

  /** Highest seq another member has read. */
  othersRead(id) {
    const c = this.convs.get(id);
    if (!c) return 0;
    let max = 0;
    for (const [u, s] of c.reads) if (!isMe(u)) max = Math.max(max, s);
    return max;
  },

  /** Tells the server we have read this conversation, if it is on screen. */
  markReadIfVisible(id) {
    const c = this.convs.get(id);
    if (!c || !this.isVisible(id)) return;
    const seq = c.last_seq;
    if (c.unread !== 0) {
      c.unread = 0;
      bus.emit('chat:unread');
    }
    if (seq > 0 && seq > c.readSent) {
      if (sendFrame({ type: 'read', conversation_id: id, seq })) c.readSent = seq;
    }
  },

  send(conversationId, body) {
    const p = {
      conversation_id: conversationId,
      client_msg_id: newClientId(),
      body,
      created_at: new Date().toISOString(),
      sentAt: Date.now(),
      failed: false,
    };
    this.pending.set(p.client_msg_id, p);
    this.transmit(p);
    bus.emit('chat:pending', { conversation_id: conversationId, client_msg_id: p.client_msg_id, pending: p });
    return p;
  },

  /**
   * Queues a send. Sends are paced below the server's rate limit (a burst
   * of 30, then 10 a second), since a refused send cannot be told apart
   * from the others.
   */
  transmit(p) {
    p.sentAt = Date.now();
    if (!this._queue.includes(p)) this._queue.push(p);
    this._pump();
  },

  _queue: [],
  _tokens: 20,
  _tokensAt: 0,
  _pumpTimer: null,
  _pump() {
    clearTimeout(this._pumpTimer);
    const now = Date.now();
    this._tokens = Math.min(20, this._tokens + ((now - (this._tokensAt || now)) / 1000) * 8);
    this._tokensAt = now;
    while (this._queue.length && this._tokens >= 1) {
      const p = this._queue.shift();
      if (!this.pending.has(p.client_msg_id)) continue;
      p.sentAt = Date.now();
      // Not connected: resync() resends it once the connection is back.
      if (!sendFrame({ type: 'send', conversation_id: p.conversation_id, client_msg_id: p.client_msg_id, body: p.body })) continue;
      this._tokens -= 1;
    }
    if (this._queue.length) this._pumpTimer = setTimeout(() => this._pump(), 130);
  },

  pendingFor(id) {
    return [...this.pending.values()].filter((p) => p.conversation_id === id);
  },

  /**
   * After (re)connecting: ask for everything after the last seq seen in
   * every known conversation, then resend what was never acked (resends
   * are idempotent by client_msg_id).
   */
  resync() {
    for (const c of this.convs.values()) {
      sendFrame({ type: 'sync', conversation_id: c.id, after_seq: c.last_seq });
    }
    for (const p of this.pending.values()) {
      p.failed = false;
      this.transmit(p);
    }
    if (this.active) this.markReadIfVisible(this.active);
  },

  /** Loads the newest page of history (or the page before `beforeSeq`). */
  async loadHistory(id, beforeSeq = null) {
    const page = await api.get(`/api/conversations/${enc(id)}/messages${qs({ before_seq: beforeSeq, limit: 40 })}`);
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
    return page;
  },

  _refreshTimer: null,
  refreshSoon() {
    clearTimeout(this._refreshTimer);
    this._refreshTimer = setTimeout(() => {
      this.load().catch(() => {});
    }, 150);
  },
};
