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
