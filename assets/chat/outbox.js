// What the chat sends and waits for: new messages until their ack, and our
// edits, unsends and reactions until theirs. Everything goes out through
// one pacer (pacing.js), since the server counts all four against the same
// budget, and is sent again after a reconnect with the same client_msg_id
// (the server answers a resend with the first ack and changes nothing).
//
// Pure, like the machine that owns it: the clock, the connection and the
// timers come in as deps.

import { excerptOf } from './items.js';
import { SendPacer } from './pacing.js';

/**
 * An edit, unsend or reaction sent on an open connection and not
 * acknowledged after this long is given up (its change no longer shows),
 * as an unacknowledged message is shown as not delivered after as long.
 * A late ack still applies it.
 */
export const ACTION_ACK_MS = 10000;

/** The frame that carries pending message or change `p`. */
export function frameOf(p) {
  const base = { conversation_id: p.conversation_id, client_msg_id: p.client_msg_id };
  switch (p.kind) {
    case 'edit':
      return { type: 'edit', ...base, seq: p.seq, body: p.body };
    case 'unsend':
      return { type: 'unsend', ...base, seq: p.seq };
    case 'react':
      return { type: 'react', ...base, seq: p.seq, emoji: p.emoji, remove: p.remove };
    default: {
      const frame = { type: 'send', ...base, body: p.body };
      if (p.media?.length) frame.media = p.media;
      if (p.reply_to) frame.reply_to = p.reply_to.seq;
      return frame;
    }
  }
}

export class Outbox {
  /** client_msg_id -> { conversation_id, client_msg_id, body, media, reply_to, created_at, sentAt, failed } */
  pending = new Map();
  /**
   * client_msg_id -> our change waiting for its ack, in the order made:
   * { kind: 'edit'|'unsend'|'react', conversation_id, client_msg_id, seq,
   * body | emoji and remove, created_at, sentAt }.
   */
  actions = new Map();

  #deps;
  #onGiveUp;
  #pacer = new SendPacer();
  #pumpTimer = null;
  /** Changes given up on: a late ack still applies them. */
  #late = new Map();

  /**
   * `deps`: { now, send, timers, newId } as the machine's (machine.js).
   * `onGiveUp(action)`: a change was given up on (ACTION_ACK_MS).
   */
  constructor(deps, onGiveUp) {
    this.#deps = deps;
    this.#onGiveUp = onGiveUp;
  }

  clear() {
    this.pending.clear();
    this.actions.clear();
    this.#late.clear();
    this.#pacer.clear();
    this.#deps.timers.clear(this.#pumpTimer);
    this.#pumpTimer = null;
  }

  /**
   * A new message: `media` [{ id, alt }] in order; `replyTo` the message
   * it answers, quoted as it reads now.
   */
  message(conversationId, body, media = [], replyTo = null) {
    const now = this.#deps.now();
    const p = {
      conversation_id: conversationId,
      client_msg_id: this.#deps.newId(),
      body,
      media: media.map(({ id, alt }) => ({ id, alt: alt || '' })),
      reply_to: replyTo
        ? { seq: replyTo.seq, sender: replyTo.sender ?? null, excerpt: replyTo.unsent ? '' : excerptOf(replyTo.body), unsent: !!replyTo.unsent }
        : null,
      created_at: new Date(now).toISOString(),
      sentAt: now,
      failed: false,
    };
    this.pending.set(p.client_msg_id, p);
    this.transmit(p);
    return p;
  }

  /** A change to a message: `fields` { kind, conversation_id, seq, body | emoji, remove }. */
  change(fields) {
    const now = this.#deps.now();
    const a = { ...fields, client_msg_id: this.#deps.newId(), created_at: new Date(now).toISOString(), sentAt: now };
    this.actions.set(a.client_msg_id, a);
    this.transmit(a);
    return a;
  }

  /** Takes the change `clientId` acknowledged (pending or given up on), or null. */
  takeChange(clientId) {
    const a = this.actions.get(clientId) || this.#late.get(clientId) || null;
    this.actions.delete(clientId);
    this.#late.delete(clientId);
    return a;
  }

  /** Our changes to message `seq` still waiting, oldest first. */
  changesTo(conversationId, seq) {
    return [...this.actions.values()].filter((a) => a.conversation_id === conversationId && a.seq === seq);
  }

  /** Queues a pending message or change for sending (again). */
  transmit(p) {
    p.sentAt = this.#deps.now();
    this.#pacer.enqueue(p);
    this.#pump();
  }

  /** Everything not acknowledged, again (after a reconnect). */
  resend() {
    for (const p of this.pending.values()) {
      p.failed = false;
      this.transmit(p);
    }
    for (const a of this.actions.values()) this.transmit(a);
  }

  #pump() {
    this.#deps.timers.clear(this.#pumpTimer);
    this.#pumpTimer = null;
    const retryIn = this.#pacer.drain(this.#deps.now(), (p) => {
      // Acked meanwhile: nothing to send.
      if (!this.pending.has(p.client_msg_id) && !this.actions.has(p.client_msg_id)) return false;
      p.sentAt = this.#deps.now();
      // Not connected: resend() sends it once the connection is back.
      const sent = this.#deps.send(frameOf(p));
      if (sent && p.kind) this.#awaitAck(p);
      return sent;
    });
    if (retryIn !== null) this.#pumpTimer = this.#deps.timers.set(() => this.#pump(), retryIn);
  }

  /** Gives a sent change up when no ack comes; sending it again starts the wait again. */
  #awaitAck(a) {
    const sentAt = a.sentAt;
    this.#deps.timers.set(() => {
      if (this.actions.get(a.client_msg_id) !== a || a.sentAt !== sentAt) return;
      this.actions.delete(a.client_msg_id);
      this.#late.set(a.client_msg_id, a);
      this.#onGiveUp(a);
    }, ACTION_ACK_MS);
  }
}
