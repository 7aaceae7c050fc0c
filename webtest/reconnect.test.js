// Reconnecting after the connection is lost: the backoff's bounds, what
// stops the wait early (the network back, the page back on screen, "Retry
// now"), what does not (a session the server ended), and the words the
// shell shows meanwhile.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { Realtime, retryDelay } from '../assets/realtime.js';
import { isHome, notFoundRoute, routeFor } from '../assets/routes.js';
import { connectionLabel, offlineWords } from '../assets/shell.js';

test('the wait grows from a quarter second and is capped at 2 s on screen, 5 s hidden', () => {
  const low = () => 0;
  const high = () => 0.999999;
  assert.equal(retryDelay(0, { random: low }), 250);
  assert.ok(retryDelay(0, { random: high }) <= 500);
  assert.equal(retryDelay(1, { random: low }), 500);
  for (let n = 0; n < 40; n += 1) {
    assert.ok(retryDelay(n, { random: high }) <= 2000, `try ${n} on screen`);
    assert.ok(retryDelay(n, { random: high, visible: false }) <= 5000, `try ${n} hidden`);
  }
  // Spread: even at the cap, two clients rarely pick the same moment.
  assert.equal(retryDelay(30, { random: low }), 1000);
  assert.equal(retryDelay(30, { random: low, visible: false }), 2500);
});

test('a server back after 10 s is tried again within 2 s, whatever the random draws', () => {
  for (const r of [0, 0.5, 0.999999]) {
    let t = 0;
    let n = 0;
    while (t < 10_000) {
      t += retryDelay(n, { random: () => r });
      n += 1;
    }
    assert.ok(t - 10_000 <= 2000, `first try after the server is back: ${t - 10_000} ms late`);
  }
});

test('a restarting server (1012) is tried again within a second, spread over it', () => {
  assert.equal(retryDelay(12, { restart: true, random: () => 0 }), 0);
  assert.ok(retryDelay(12, { restart: true, random: () => 0.999999 }) < 1000);
});

// ---- the connection object, with a fake window and document ----------------

let saved;
beforeEach(() => {
  saved = { window: globalThis.window, document: globalThis.document };
  globalThis.window = new EventTarget();
  globalThis.document = Object.assign(new EventTarget(), { visibilityState: 'visible' });
});
afterEach(() => {
  globalThis.window = saved.window;
  globalThis.document = saved.document;
});

/** A Realtime whose connecting is only counted: each try stays "connecting". */
function fakeRealtime() {
  const statuses = [];
  const kicks = [];
  const rt = new Realtime({
    onFrame: () => {},
    onStatus: (kind, st, info) => statuses.push({ kind, st, retryAt: info.retryAt }),
    onKicked: (reason) => kicks.push(reason),
  });
  rt.tries = 0;
  rt._connect = () => {
    rt.tries += 1;
    rt.gen += 1;
    rt._status('websocket', 'connecting');
  };
  rt.statuses = statuses;
  rt.kicks = kicks;
  return rt;
}

test('a lost connection plans its next try and says when', () => {
  const rt = fakeRealtime();
  rt.start();
  const before = Date.now();
  rt._lost(rt.gen);
  const last = rt.statuses.at(-1);
  assert.equal(last.st, 'closed');
  assert.ok(last.retryAt >= before + 250 && last.retryAt <= Date.now() + 500, `retryAt ${last.retryAt - before} ms ahead`);
  rt.stop();
  assert.equal(rt.statuses.at(-1).retryAt, 0);
});

test('the network coming back, or the page coming on screen, tries at once', () => {
  const rt = fakeRealtime();
  rt.start();
  rt._lost(rt.gen);
  assert.equal(rt.tries, 1);
  window.dispatchEvent(new Event('online'));
  assert.equal(rt.tries, 2);
  // Already trying: another nudge does not start over.
  window.dispatchEvent(new Event('online'));
  assert.equal(rt.tries, 2);
  rt._lost(rt.gen);
  document.visibilityState = 'hidden';
  document.dispatchEvent(new Event('visibilitychange'));
  assert.equal(rt.tries, 2);
  document.visibilityState = 'visible';
  document.dispatchEvent(new Event('visibilitychange'));
  assert.equal(rt.tries, 3);
  assert.equal(rt.attempts, 0, 'the backoff starts over');
  rt.stop();
  window.dispatchEvent(new Event('online'));
  assert.equal(rt.tries, 3, 'a stopped connection stays stopped');
});

test('"Retry now" tries at once, and may give up a try under way', () => {
  const rt = fakeRealtime();
  rt.start();
  assert.equal(rt.retryNow(), false, 'a try is under way');
  assert.equal(rt.retryNow({ force: true }), true);
  assert.equal(rt.tries, 2);
  rt._lost(rt.gen);
  assert.equal(rt.retryNow({ force: true }), true);
  assert.equal(rt.tries, 3);
  rt.stop();
});

test('after the server ended the session (4000), only the owner reopens', () => {
  const rt = fakeRealtime();
  rt.start();
  rt._kicked(rt.gen, 'signed out');
  assert.deepEqual(rt.kicks, ['signed out']);
  assert.equal(rt.state, 'closed');
  assert.equal(rt.retryAt, 0);
  window.dispatchEvent(new Event('online'));
  document.dispatchEvent(new Event('visibilitychange'));
  assert.equal(rt.retryNow({ force: true }), false);
  assert.equal(rt.tries, 1);
  rt.reconnectNow();
  assert.equal(rt.tries, 2);
  rt._lost(rt.gen);
  window.dispatchEvent(new Event('online'));
  assert.equal(rt.tries, 3, 'reopened by the owner, it retries as usual');
  rt.stop();
});

test('a restart (1012) is retried within a second however long the backoff grew', () => {
  const rt = fakeRealtime();
  rt.start();
  rt.attempts = 12;
  const before = Date.now();
  rt._lost(rt.gen, true);
  assert.ok(rt.retryAt - before <= 1000 + 5);
  assert.equal(rt.attempts, 1);
  rt.stop();
});

// ---- what the shell says ---------------------------------------------------

test('the indicator speaks plainly; the banner counts down', () => {
  assert.equal(connectionLabel('open'), 'Connected');
  assert.equal(connectionLabel('connecting'), 'Connecting…');
  assert.equal(connectionLabel('closed'), 'Offline');
  assert.deepEqual(offlineWords('closed', 10_000 + 4_200, 10_000), { title: 'Offline', detail: 'trying again in 5 s' });
  assert.deepEqual(offlineWords('closed', 10_000 + 300, 10_000), { title: 'Offline', detail: 'trying again in 1 s' });
  assert.equal(offlineWords('connecting', 0, 10_000).detail, 'connecting…');
  assert.equal(offlineWords('closed', 0, 10_000).detail, 'trying to reconnect');
  assert.equal(offlineWords('closed', 0, 10_000, false).title, 'Offline — no network');
});

// ---- routes: home and not found -------------------------------------------

test('the bare address goes home; any other unknown one is not found', () => {
  assert.ok(isHome(''));
  assert.ok(isHome('#'));
  assert.ok(isHome('#/'));
  assert.ok(!isHome('#/nowhere'));
  assert.equal(routeFor('#/nowhere', 'alice'), null);
  assert.equal(notFoundRoute('alice').public, false);
  assert.equal(notFoundRoute(null).public, true);
  assert.equal(notFoundRoute(null).name, 'not-found');
});
