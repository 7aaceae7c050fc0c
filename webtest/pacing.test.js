// The send pacer's token bucket, on its own.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SEND_BURST, SEND_RATE_PER_SEC, SEND_RETRY_MS, SendPacer } from '../assets/chat/pacing.js';

/** The server's limit on sends (docs/protocol.md). */
const SERVER_BURST = 30;
const SERVER_PER_SEC = 10;

const queued = (pacer, n) => {
  const items = Array.from({ length: n }, (_, i) => i);
  for (const i of items) pacer.enqueue(i);
  return items;
};

test('the limits sit below the server’s, and a retry waits for a whole token', () => {
  assert.ok(SEND_BURST < SERVER_BURST);
  assert.ok(SEND_RATE_PER_SEC < SERVER_PER_SEC);
  assert.ok((SEND_RETRY_MS / 1000) * SEND_RATE_PER_SEC >= 1);
});

test('a full bucket lets a burst through, oldest first, then asks for a retry', () => {
  const pacer = new SendPacer({ burst: 3, perSec: 1 });
  queued(pacer, 5);
  const out = [];
  assert.equal(
    pacer.drain(0, (i) => out.push(i) > 0),
    SEND_RETRY_MS,
  );
  assert.deepEqual(out, [0, 1, 2]);
  assert.equal(pacer.size, 2);
});

test('tokens come back at perSec, and never beyond the burst', () => {
  const pacer = new SendPacer({ burst: 10, perSec: 2 });
  const out = [];
  const send = (i) => out.push(i) > 0;
  queued(pacer, 100);
  pacer.drain(0, send);
  assert.equal(out.length, 10);
  pacer.drain(499, send);
  assert.equal(out.length, 10, 'not yet a whole token');
  pacer.drain(600, send);
  assert.equal(out.length, 11);
  pacer.drain(3600, send);
  assert.equal(out.length, 17, 'three seconds: six tokens');
  pacer.drain(3600 + 3_600_000, send);
  assert.equal(out.length, 27, 'an idle hour refills to the burst, no more');
});

test('an item not sent leaves the queue without using a token', () => {
  const pacer = new SendPacer({ burst: 2, perSec: 1 });
  queued(pacer, 5);
  const out = [];
  pacer.drain(0, (i) => i % 2 === 1 && out.push(i) > 0);
  assert.deepEqual(out, [1, 3], 'items 0 and 2 were dropped; 1 and 3 used the two tokens');
  assert.equal(pacer.size, 1);
});

test('an item queued twice is sent once', () => {
  const pacer = new SendPacer();
  const item = { id: 'x' };
  pacer.enqueue(item);
  pacer.enqueue(item);
  const out = [];
  assert.equal(
    pacer.drain(0, (i) => out.push(i) > 0),
    null,
    'nothing left: no retry',
  );
  assert.deepEqual(out, [item]);
});

test('draining on every retry keeps a long queue within the rate', () => {
  const pacer = new SendPacer();
  const n = SEND_BURST + 10 * SEND_RATE_PER_SEC;
  queued(pacer, n);
  const times = [];
  let now = 0;
  for (let wait = 0; wait !== null; now += wait) {
    wait = pacer.drain(now, () => times.push(now) > 0);
  }
  assert.equal(times.length, n);
  // Over any whole second, at most the burst plus a second's tokens.
  for (const t of times) {
    const inSecond = times.filter((x) => x >= t && x < t + 1000).length;
    assert.ok(inSecond <= SEND_BURST + SEND_RATE_PER_SEC, `${inSecond} sends in the second from ${t} ms`);
  }
  const last = times.at(-1);
  assert.ok(last >= 10_000 - SEND_RETRY_MS, `the queue drained in ${last} ms: faster than the rate`);
  assert.ok(last <= 10_000 * 1.2, `the queue drained in ${last} ms: far slower than the rate`);
});
