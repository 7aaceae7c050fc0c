'use strict';
// A smoke test of a running peer (./start.sh first): the HTTP endpoints the
// benchmarks use, chat across the two processes (the redis adapter), with
// socket.io-client and with the raw Engine.IO/Socket.IO frames a non-Node
// load generator would write. Every wait is bounded.
//
// Usage: node smoke.js [http://127.0.0.1:3001] [http://127.0.0.1:3002]

const assert = require('node:assert/strict');
const { io } = require('socket.io-client');
const WebSocket = require('ws');

const A = process.argv[2] || 'http://127.0.0.1:3001';
const B = process.argv[3] || 'http://127.0.0.1:3002';
const TIMEOUT_MS = 10_000;
const run = Date.now().toString(36);

function log(step, detail) {
  console.log(`ok  ${step}${detail === undefined ? '' : `  ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}`);
}

/** One JSON call; returns {status, body, cookie}. */
async function call(base, method, path, { cookie, json } = {}) {
  const headers = {};
  if (cookie) headers.cookie = cookie;
  if (json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  const setCookie = res.headers.get('set-cookie');
  return {
    status: res.status,
    body: text ? JSON.parse(text) : null,
    cookie: setCookie ? setCookie.split(';')[0] : null,
    setCookie,
  };
}

function within(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

function once(socket, event) {
  return within(new Promise((resolve) => socket.once(event, resolve)), event);
}

async function connect(base, cookie) {
  const s = io(base, { transports: ['websocket'], extraHeaders: { cookie }, reconnection: false });
  const hello = await once(s, 'hello');
  return { s, hello };
}

async function main() {
  // -- auth --
  const alice = `alice_${run}`;
  const bob = `bob_${run}`;
  const sa = await call(A, 'POST', '/api/auth/signup', { json: { username: alice, password: 'bench-password' } });
  assert.equal(sa.status, 201, JSON.stringify(sa.body));
  assert.ok(sa.cookie.startsWith('kith='));
  assert.match(sa.setCookie, /HttpOnly/i);
  assert.match(sa.setCookie, /SameSite=Lax/i);
  log('signup alice on A: 201', { user: sa.body.user, set_cookie: sa.setCookie.replace(/kith=[^;]+/, 'kith=…') });
  const sb = await call(A, 'POST', '/api/auth/signup', { json: { username: bob, password: 'bench-password' } });
  assert.equal(sb.status, 201);
  const dup = await call(A, 'POST', '/api/auth/signup', { json: { username: bob, password: 'bench-password' } });
  assert.equal(dup.status, 409);
  log('signup bob on A: 201; again: 409', dup.body);
  const la = await call(B, 'POST', '/api/auth/login', { json: { username: alice, password: 'bench-password' } });
  assert.equal(la.status, 200);
  const bad = await call(B, 'POST', '/api/auth/login', { json: { username: alice, password: 'wrong-password' } });
  assert.equal(bad.status, 401);
  log('login alice on B: 200; wrong password: 401', bad.body);
  const ca = sa.cookie;
  const cb = sb.cookie;
  const me = await call(B, 'GET', '/api/me', { cookie: ca });
  assert.equal(me.status, 200);
  assert.equal(me.body.user.username, alice);
  log('GET /api/me on B with the session from A: 200');
  assert.equal((await call(A, 'GET', '/api/feed')).status, 401);
  log('GET /api/feed without a session: 401');

  // -- friends --
  const fr = await call(A, 'POST', '/api/friends/requests', { cookie: ca, json: { username: bob } });
  assert.equal(fr.status, 201);
  log('friend request alice → bob: 201', fr.body);
  const acc = await call(B, 'POST', `/api/friends/requests/${fr.body.id}/accept`, { cookie: cb });
  assert.equal(acc.status, 204);
  log('bob accepts on B: 204');

  // -- posts, feed, likes --
  const p1 = await call(A, 'POST', '/api/posts', { cookie: ca, json: { body: 'hello from alice', visibility: 'public' } });
  assert.equal(p1.status, 201);
  log('alice posts: 201', p1.body);
  const p2 = await call(B, 'POST', '/api/posts', { cookie: cb, json: { body: 'friends only, from bob', visibility: 'friends' } });
  assert.equal(p2.status, 201);
  const feed = await call(B, 'GET', '/api/feed?limit=20', { cookie: ca });
  assert.equal(feed.status, 200);
  assert.deepEqual(feed.body.items.map((p) => p.id), [p2.body.post.id, p1.body.post.id]);
  log('alice reads her feed on B: 200', { items: feed.body.items.length, next_cursor: feed.body.next_cursor, first: feed.body.items[0] });
  const like = await call(A, 'PUT', `/api/posts/${p2.body.post.id}/like`, { cookie: ca });
  assert.equal(like.status, 200);
  assert.deepEqual(like.body, { liked: true, like_count: 1 });
  const again = await call(A, 'PUT', `/api/posts/${p2.body.post.id}/like`, { cookie: ca });
  assert.deepEqual(again.body, { liked: true, like_count: 1 });
  const liked = await call(A, 'GET', '/api/feed', { cookie: ca });
  assert.equal(liked.body.items[0].liked_by_me, true);
  assert.equal(liked.body.items[0].like_count, 1);
  const unlike = await call(B, 'DELETE', `/api/posts/${p2.body.post.id}/like`, { cookie: ca });
  assert.deepEqual(unlike.body, { liked: false, like_count: 0 });
  log('like (twice), feed shows it, unlike on B: 200', { like: like.body, unlike: unlike.body });

  // A new friend's earlier posts join the feed; friends-only posts stay hidden from others.
  const carol = `carol_${run}`;
  const sc = await call(B, 'POST', '/api/auth/signup', { json: { username: carol, password: 'bench-password' } });
  assert.equal(sc.status, 201);
  const cc = sc.cookie;
  const hidden = await call(B, 'PUT', `/api/posts/${p2.body.post.id}/like`, { cookie: cc });
  assert.equal(hidden.status, 404);
  log("carol (not bob's friend) likes bob's friends-only post: 404", hidden.body);
  const p3 = await call(B, 'POST', '/api/posts', { cookie: cc, json: { body: 'carol, before', visibility: 'friends' } });
  assert.equal(p3.status, 201);
  const r1 = await call(B, 'POST', '/api/friends/requests', { cookie: cc, json: { username: alice } });
  const r2 = await call(A, 'POST', '/api/friends/requests', { cookie: ca, json: { username: carol } });
  assert.deepEqual(r2.body, { id: r1.body.id, status: 'accepted' });
  log('carol asks alice, then alice asks carol: 201 accepted', r2.body);
  const page1 = await call(A, 'GET', '/api/feed?limit=2', { cookie: ca });
  const page2 = await call(A, 'GET', `/api/feed?limit=2&cursor=${page1.body.next_cursor}`, { cookie: ca });
  const seen = [...page1.body.items, ...page2.body.items].map((p) => p.id);
  assert.deepEqual(seen, [p3.body.post.id, p2.body.post.id, p1.body.post.id]);
  assert.equal(page2.body.next_cursor, null);
  log("alice's feed in pages of 2 includes carol's earlier post", { page1: page1.body.items.map((p) => p.id), next_cursor: page1.body.next_cursor, page2: page2.body.items.map((p) => p.id) });

  // -- conversations and chat across the two processes --
  const conv = await call(A, 'POST', '/api/conversations', { cookie: ca, json: { members: [bob] } });
  assert.equal(conv.status, 201);
  const conv2 = await call(B, 'POST', '/api/conversations', { cookie: cb, json: { members: [alice] } });
  assert.equal(conv2.status, 200);
  assert.deepEqual(conv2.body, { id: conv.body.id, created: false });
  log('conversation alice + bob: 201; from bob: 200 (the same direct one)', conv.body);
  const cid = conv.body.id;

  const { s: aliceSock, hello: ha } = await connect(A, ca);
  const { s: bobSock, hello: hb } = await connect(B, cb);
  log('Socket.IO (websocket) alice on A, bob on B: hello', { alice: ha, bob: hb });
  const got = once(bobSock, 'message');
  const acked = once(aliceSock, 'ack');
  const t0 = process.hrtime.bigint();
  aliceSock.emit('send', { conversation_id: cid, client_msg_id: 'm1', body: 'hi bob' });
  const [ack, msg] = await Promise.all([acked, got]);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.equal(ack.seq, 1);
  assert.equal(msg.seq, 1);
  assert.equal(msg.sender, alice);
  log('alice sends on A → ack', ack);
  log(`bob receives on B (through the redis adapter, ${ms.toFixed(1)} ms)`, msg);
  // The Socket.IO acknowledgement style, and idempotency.
  const ack2 = await within(
    aliceSock.timeout(TIMEOUT_MS).emitWithAck('send', { conversation_id: cid, client_msg_id: 'm2', body: 'second' }),
    'ack callback',
  );
  assert.equal(ack2.type, 'ack');
  assert.equal(ack2.seq, 2);
  const ack2b = await within(
    aliceSock.timeout(TIMEOUT_MS).emitWithAck('send', { conversation_id: cid, client_msg_id: 'm2', body: 'second' }),
    'ack callback',
  );
  assert.equal(ack2b.seq, 2);
  log('send with an ack callback → seq 2; resent with the same client_msg_id → seq 2 again', ack2b);
  // A group (with a title), fanned out to members on both processes.
  const group = await call(A, 'POST', '/api/conversations', { cookie: ca, json: { members: [bob, carol], title: 'group 0' } });
  assert.equal(group.status, 201);
  const { s: carolSock } = await connect(A, cc);
  const gotB = once(bobSock, 'message');
  const gotC = once(carolSock, 'message');
  aliceSock.emit('send', { conversation_id: group.body.id, client_msg_id: 'g1', body: 'hi all' });
  const [gb, gc] = await Promise.all([gotB, gotC]);
  assert.equal(gb.conversation_id, group.body.id);
  assert.equal(gc.seq, 1);
  log('group of 3: alice sends on A, bob (on B) and carol (on A) receive', { group: group.body, bob: gb.seq, carol: gc.seq });
  carolSock.close();

  const notMember = once(aliceSock, 'error');
  aliceSock.emit('send', { conversation_id: '999999999', client_msg_id: 'm3', body: 'x' });
  log('send to a conversation alice is not in → error', await notMember);

  // The raw protocol, as a load generator without a Socket.IO library sees it.
  const raw = new WebSocket(`${B.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`, {
    headers: { cookie: cb, origin: B },
  });
  const frames = [];
  const rawWait = (pred, what) =>
    within(
      new Promise((resolve) => {
        const check = () => {
          const i = frames.findIndex(pred);
          if (i >= 0) return resolve(frames.splice(i, 1)[0]);
          raw.once('message', check);
        };
        check();
      }),
      what,
    );
  raw.on('message', (d) => {
    const f = d.toString();
    if (f === '2') raw.send('3'); // Engine.IO ping → pong
    frames.push(f);
  });
  await within(new Promise((r, j) => raw.once('open', r).once('error', j)), 'raw open');
  const open = await rawWait((f) => f.startsWith('0'), 'engine open');
  raw.send('40');
  const connected = await rawWait((f) => f.startsWith('40'), 'socket.io connect');
  const helloRaw = await rawWait((f) => f.startsWith('42["hello"'), 'hello');
  log('raw WebSocket bob on B', { open, connected, hello: helloRaw });
  const rawMsg = rawWait((f) => f.startsWith('42["message"'), 'raw message');
  aliceSock.emit('send', { conversation_id: cid, client_msg_id: 'm4', body: 't=123' });
  log('raw frame bob receives', await rawMsg);
  raw.send(`42${JSON.stringify(['send', { conversation_id: cid, client_msg_id: 'raw1', body: 'from raw' }])}`);
  log('raw ack frame', await rawWait((f) => f.startsWith('42["ack"'), 'raw ack'));
  raw.close();

  const hist = await call(B, 'GET', `/api/conversations/${cid}/messages`, { cookie: cb });
  assert.equal(hist.status, 200);
  assert.deepEqual(hist.body.items.map((m) => m.seq), [1, 2, 3, 4]);
  log('stored messages, read over REST on B', { seqs: hist.body.items.map((m) => m.seq), last_seq: hist.body.last_seq });

  const anon = io(A, { transports: ['websocket'], reconnection: false });
  const err = await once(anon, 'connect_error');
  assert.equal(err.message, 'unauthorized');
  log('Socket.IO without a session: connect_error', err.message);
  anon.close();
  aliceSock.close();
  bobSock.close();
  console.log('smoke test passed');
}

main().catch((e) => {
  console.error('smoke test FAILED:', e);
  process.exit(1);
});
