// Pacing of outgoing chat messages: a queue drained through a token bucket
// kept below the server's send limit (docs/protocol.md: a burst of 30, then
// 10 a second, per connection and per user across their connections). A
// send the server refuses for the rate looks like any other failure, so
// the client must not provoke one. Pure: the caller passes the time and
// schedules the next drain.

/**
 * Messages that may go out at once. Below the server's burst of 30, so
 * another tab or device of the same user, which shares the per-user
 * bucket, still has room.
 */
export const SEND_BURST = 20;

/**
 * Tokens regained per second. Below the server's 10 a second for the same
 * reason, and so that clock drift between the two buckets never tips a
 * long queue over the limit.
 */
export const SEND_RATE_PER_SEC = 8;

/**
 * How long a queue that ran out of tokens waits before trying again: one
 * token's refill time at 8 a second (125 ms), rounded up so the token is
 * whole when the drain runs.
 */
export const SEND_RETRY_MS = 130;

export class SendPacer {
  #burst;
  #perSec;
  #queue = [];
  #tokens;
  /** When the tokens were last counted; null before the first drain. */
  #countedAt = null;

  constructor({ burst = SEND_BURST, perSec = SEND_RATE_PER_SEC } = {}) {
    this.#burst = burst;
    this.#perSec = perSec;
    this.#tokens = burst;
  }

  /** Items waiting for a token. */
  get size() {
    return this.#queue.length;
  }

  /** Queues `item` (once: an item already queued keeps its place). */
  enqueue(item) {
    if (!this.#queue.includes(item)) this.#queue.push(item);
  }

  clear() {
    this.#queue = [];
  }

  /**
   * Hands queued items, oldest first, to `trySend(item)` while tokens last.
   * Every item handed over leaves the queue; only those for which
   * `trySend` returns true use a token. Returns how many ms to wait before
   * draining again, or null when the queue is empty.
   */
  drain(now, trySend) {
    const elapsed = this.#countedAt === null ? 0 : now - this.#countedAt;
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed / 1000) * this.#perSec);
    this.#countedAt = now;
    while (this.#queue.length && this.#tokens >= 1) {
      const item = this.#queue.shift();
      if (trySend(item)) this.#tokens -= 1;
    }
    return this.#queue.length ? SEND_RETRY_MS : null;
  }
}
