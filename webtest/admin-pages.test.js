// The console's page logic that needs no browser: sections, badges of
// state on accounts, invites and nodes.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { nodeHealth } from '../assets/admin/cluster.js';
import { SECTIONS, sectionFor } from '../assets/admin/console.js';
import { removable } from '../assets/admin/reports.js';
import { inviteState } from '../assets/admin/signups.js';
import { userTags } from '../assets/admin/users.js';

test('every section the route may name has a page; unknown ones show the overview', () => {
  assert.deepEqual(
    SECTIONS.map((s) => s.key),
    ['overview', 'users', 'reports', 'signups', 'jobs', 'cluster', 'audit'],
  );
  for (const s of SECTIONS) assert.equal(typeof s.page.render, 'function', s.key);
  assert.equal(sectionFor('jobs').key, 'jobs');
  assert.equal(sectionFor(undefined).key, 'overview');
  assert.equal(sectionFor('nope').key, 'overview');
  assert.deepEqual(SECTIONS.filter((s) => s.badge).map((s) => s.key), ['reports', 'signups']);
});

test('account tags', () => {
  const u = { user: { username: 'ann' }, admin: true, banned: true, status: 'pending' };
  assert.deepEqual(userTags(u, 'ann').map(([t]) => t), ['You', 'Admin', 'Banned', 'Pending']);
  assert.deepEqual(userTags({ user: { username: 'bo' }, admin: false, banned: false, status: 'active' }, 'ann'), []);
});

test('an invite is revoked, used up, expired or active', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  const base = { revoked: false, uses: 0, max_uses: 2, expires_at: '2025-01-02T00:00:00Z' };
  assert.equal(inviteState(base, now), 'active');
  assert.equal(inviteState({ ...base, revoked: true }, now), 'revoked');
  assert.equal(inviteState({ ...base, uses: 2 }, now), 'used');
  assert.equal(inviteState({ ...base, expires_at: '2024-12-31T00:00:00Z' }, now), 'expired');
  assert.equal(inviteState({ ...base, expires_at: null }, now), 'active');
});

test('a node is up, late or down', () => {
  const now = Date.parse('2025-01-01T00:01:00Z');
  assert.equal(nodeHealth({ reachable: true, heartbeat_at: '2025-01-01T00:00:55Z' }, now), 'up');
  assert.equal(nodeHealth({ reachable: true, heartbeat_at: '2025-01-01T00:00:00Z' }, now), 'stale');
  assert.equal(nodeHealth({ reachable: false, heartbeat_at: '2025-01-01T00:00:59Z' }, now), 'down');
});

test('only posts and comments can be removed', () => {
  assert.equal(removable({ kind: 'post' }), true);
  assert.equal(removable({ kind: 'comment' }), true);
  assert.equal(removable({ kind: 'user' }), false);
  assert.equal(removable({ kind: 'message' }), false);
});
