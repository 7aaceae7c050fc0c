// Pure pieces of the settings pages and the report dialog.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { reportError } from '../assets/report.js';
import { inviteStatus } from '../assets/settings/invites.js';
import { BIO_MAX, counterText } from '../assets/settings/profile.js';
import { orderSessions } from '../assets/settings/sessions.js';

test('the bio counter warns near the limit and refuses past it', () => {
  assert.equal(BIO_MAX, 300);
  assert.deepEqual(counterText(0), { text: '0 / 300', near: false, over: false });
  assert.deepEqual(counterText(285), { text: '285 / 300', near: true, over: false });
  assert.deepEqual(counterText(301), { text: '301 / 300', near: true, over: true });
});

test('an invite is revoked, used up, expired or active, in that order', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  const base = { revoked: false, uses: 0, max_uses: 2, expires_at: '2030-01-02T00:00:00Z' };
  assert.equal(inviteStatus(base, now), 'active');
  assert.equal(inviteStatus({ ...base, expires_at: null }, now), 'active');
  assert.equal(inviteStatus({ ...base, expires_at: '2029-12-31T00:00:00Z' }, now), 'expired');
  assert.equal(inviteStatus({ ...base, uses: 2, expires_at: '2029-12-31T00:00:00Z' }, now), 'used');
  assert.equal(inviteStatus({ ...base, uses: 2, revoked: true }, now), 'revoked');
});

test('this device comes first, then the most recently seen', () => {
  const s = (id, current, seen) => ({ id, current, last_seen_at: seen });
  const order = orderSessions([s('a', false, '2030-01-01T00:00:00Z'), s('b', false, '2030-01-03T00:00:00Z'), s('c', true, '2029-01-01T00:00:00Z')]);
  assert.deepEqual(order.map((x) => x.id), ['c', 'b', 'a']);
});

test('a refused report says why in plain words', () => {
  assert.match(reportError({ status: 429 }), /a lot of reports; try again later/);
  assert.match(reportError({ status: 404 }), /no longer there/);
  assert.equal(reportError({ status: 422, message: 'you cannot report yourself' }), 'you cannot report yourself');
});
