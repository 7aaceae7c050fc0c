// The HTTP API wrapper: every write carries one Idempotency-Key for all of
// its attempts, and is retried when the answer never came.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { ApiError, WRITE_ATTEMPTS, api, retryDelay, setPause } from '../assets/api.js';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

function reply(status, body, headers = {}) {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/** Fetch answering from `answers` in turn; records what was sent. */
function script(answers) {
  const sent = [];
  globalThis.fetch = async (path, opts) => {
    sent.push({ path, opts });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    return next;
  };
  return sent;
}

test('a write whose answer never came is sent again under the same key', async () => {
  const waits = [];
  setPause(async (ms) => waits.push(ms));
  const unknown = { error: { code: 'outcome_unknown', message: 'may or may not' } };
  const sent = script([
    new TypeError('network down'),
    reply(503, unknown, { 'retry-after': '1' }),
    reply(201, { post: { id: 'p1' } }),
  ]);
  const v = await api.post('/api/posts', { body: 'hi' });
  assert.deepEqual(v, { post: { id: 'p1' } });
  assert.equal(sent.length, 3);
  const keys = sent.map((s) => s.opts.headers['idempotency-key']);
  assert.ok(keys[0] && keys[0].length >= 16, keys[0]);
  assert.deepEqual(keys, [keys[0], keys[0], keys[0]]);
  assert.deepEqual(waits, [500, 1000], 'backs off, and honours Retry-After');
  // Each write has a key of its own.
  script([reply(201, {})]);
  const second = script([reply(201, {})]);
  await api.post('/api/posts', { body: 'again' });
  assert.notEqual(second[0].opts.headers['idempotency-key'], keys[0]);
});

test('a write gives up after its attempts and says what is known', async () => {
  setPause(async () => {});
  const unknown = { error: { code: 'outcome_unknown', message: 'retry with the same Idempotency-Key' } };
  const sent = script(Array.from({ length: WRITE_ATTEMPTS }, () => reply(503, unknown)));
  await assert.rejects(api.post('/api/posts', { body: 'x' }), (e) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.code, 'outcome_unknown');
    assert.match(e.message, /may have been saved/);
    assert.doesNotMatch(e.message, /Idempotency/);
    return true;
  });
  assert.equal(sent.length, WRITE_ATTEMPTS);
});

test('reads carry no key, and a refusal is not retried', async () => {
  setPause(async () => assert.fail('no pause'));
  const sent = script([reply(503, { error: { code: 'unavailable', message: 'busy' } })]);
  await assert.rejects(api.get('/api/feed'), (e) => e.status === 503);
  assert.equal(sent.length, 1);
  assert.equal(sent[0].opts.headers['idempotency-key'], undefined);
  const refused = script([reply(422, { error: { code: 'invalid', message: 'too long' } })]);
  await assert.rejects(api.post('/api/posts', {}), (e) => e.code === 'invalid');
  assert.equal(refused.length, 1);
});

test('Retry-After is followed up to a cap', () => {
  const res = (v) => ({ headers: new Headers(v ? { 'retry-after': v } : {}) });
  assert.equal(retryDelay(res('2'), 1), 2000);
  assert.equal(retryDelay(res('60'), 1), 4000);
  assert.equal(retryDelay(res(null), 1), 500);
  assert.equal(retryDelay(res(null), 2), 1000);
  assert.equal(retryDelay(null, 3), 2000);
});
