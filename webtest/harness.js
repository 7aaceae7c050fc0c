// A chat state machine wired to fakes: a clock the test moves by hand,
// timers that run only when the clock passes them, a connection that
// records the frames sent, and a bus that records the events emitted.

import { ChatMachine } from '../assets/chat/machine.js';

/** Timers driven by `clock.now`; `advance(ms)` runs the due ones in order. */
export function fakeTimers(clock) {
  let nextId = 1;
  const due = new Map();
  return {
    set(fn, ms) {
      const id = nextId++;
      due.set(id, { at: clock.now + ms, fn });
      return id;
    },
    clear(id) {
      due.delete(id);
    },
    /** How many timers are waiting. */
    get size() {
      return due.size;
    },
    advance(ms) {
      const end = clock.now + ms;
      for (;;) {
        let next = null;
        for (const [id, t] of due) {
          if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
        }
        if (!next) break;
        due.delete(next[0]);
        clock.now = next[1].at;
        next[1].fn();
      }
      clock.now = end;
    },
  };
}

/**
 * A machine for user `me`, connected and on screen unless told otherwise.
 * `h.connected` and `h.visible` may be flipped during a test.
 */
export function harness({ me = 'alice', connected = true, visible = true } = {}) {
  const clock = { now: 1_700_000_000_000 };
  const timers = fakeTimers(clock);
  let ids = 0;
  const h = {
    me,
    connected,
    visible,
    clock,
    timers,
    /** Frames the machine sent while connected. */
    sent: [],
    /** Events the machine emitted: { type, detail }. */
    events: [],
    /** How many times the conversation list was asked to reload. */
    listReloads: 0,
    framesOf: (type) => h.sent.filter((f) => f.type === type),
    eventsOf: (type) => h.events.filter((e) => e.type === type),
    clearLogs() {
      h.sent.length = 0;
      h.events.length = 0;
    },
  };
  h.machine = new ChatMachine({
    me: () => h.me,
    now: () => clock.now,
    pageVisible: () => h.visible,
    send: (frame) => {
      if (!h.connected) return false;
      h.sent.push(frame);
      return true;
    },
    emit: (type, detail) => h.events.push({ type, detail }),
    timers,
    newId: () => `client-${++ids}`,
    refreshList: () => {
      h.listReloads += 1;
    },
  });
  return h;
}

/** A conversation as the API's list gives it. */
export function listItem(id, { lastSeq = 0, unread = 0, members = ['alice', 'bob'], kind = 'direct', title = null, lastAt = null } = {}) {
  return {
    id,
    kind,
    title,
    members: members.map((username) => ({ username, display_name: username })),
    last_seq: lastSeq,
    unread,
    last_message: lastAt ? { conversation_id: id, seq: lastSeq, sender: 'bob', body: 'earlier', created_at: lastAt } : null,
  };
}

/** A `message` frame. */
export function message(conversationId, seq, sender = 'bob', extra = {}) {
  return {
    type: 'message',
    conversation_id: conversationId,
    seq,
    message_id: `m-${conversationId}-${seq}`,
    sender,
    body: `message ${seq}`,
    client_msg_id: null,
    created_at: new Date(Date.UTC(2026, 0, 1, 12, 0, seq)).toISOString(),
    ...extra,
  };
}
