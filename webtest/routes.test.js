// The route table.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { routeFor } from '../assets/routes.js';

test('each hash names its view, its parameters and its navigation link', () => {
  assert.equal(routeFor('#/feed', 'alice').name, 'feed');
  assert.deepEqual(routeFor('#/chat', 'alice').params, { id: null });
  assert.deepEqual(routeFor('#/chat/abc%20d', 'alice').params, { id: 'abc d' });
  assert.equal(routeFor('#/post/p1', 'alice').params.id, 'p1');
  assert.equal(routeFor('#/login', null).public, true);
  assert.equal(routeFor('#signup', null).name, 'signup');
});

test('only your own profile highlights the profile link', () => {
  assert.equal(routeFor('#/u/alice', 'alice').nav, 'profile');
  assert.equal(routeFor('#/u/bob', 'alice').nav, null);
  assert.deepEqual(routeFor('#/u/bob', 'alice').params, { username: 'bob' });
});

test('unknown or incomplete hashes have no route; a malformed escape is taken as it is', () => {
  assert.equal(routeFor('', 'alice'), null);
  assert.equal(routeFor('#/nowhere', 'alice'), null);
  assert.equal(routeFor('#/u', 'alice'), null);
  assert.equal(routeFor('#/post/', 'alice'), null);
  assert.deepEqual(routeFor('#/u/%E0%A4%A', 'alice').params, { username: '%E0%A4%A' });
});

test('settings sections, mail links and the admin console', () => {
  assert.deepEqual(routeFor('#/settings', 'alice').params, { section: 'profile' });
  assert.deepEqual(routeFor('#/settings/sessions', 'alice').params, { section: 'sessions' });
  assert.deepEqual(routeFor('#/settings/nowhere', 'alice').params, { section: 'profile' });
  assert.equal(routeFor('#/settings', 'alice').nav, 'settings');
  assert.deepEqual(routeFor('#/signup/AbC123', null).params, { code: 'AbC123' });
  assert.deepEqual(routeFor('#/signup', null).params, { code: null });
  assert.equal(routeFor('#/forgot-password', null).public, true);
  // Links from mail work signed out (public) and signed in (in the shell).
  assert.equal(routeFor('#/reset-password/t0k', null).public, true);
  assert.equal(routeFor('#/reset-password/t0k', 'alice').public, false);
  assert.deepEqual(routeFor('#/verify-email/t0k', 'alice').params, { token: 't0k' });
  assert.equal(routeFor('#/verify-email/t0k', null).public, true);
  assert.equal(routeFor('#/verify-email', 'alice'), null);
  const admin = routeFor('#/admin', 'carol');
  assert.deepEqual([admin.name, admin.params.section, admin.nav], ['admin', 'overview', 'admin']);
  assert.equal(routeFor('#/admin/reports', 'carol').params.section, 'reports');
});
