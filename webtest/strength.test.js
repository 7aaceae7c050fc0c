// The new-password strength hint.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MIN_PASSWORD, passwordStrength } from '../assets/settings/strength.js';

test('short passwords are refused, at the length the server wants', () => {
  assert.equal(MIN_PASSWORD, 8);
  assert.deepEqual([passwordStrength('').ok, passwordStrength('abc').ok, passwordStrength('Ab1!xyz').ok], [false, false, false]);
  assert.equal(passwordStrength('Ab1!xyz').score, 0);
  assert.equal(passwordStrength('horse battery').ok, true);
});

test('common passwords, patterns and the username are weak', () => {
  for (const pw of ['password', 'Password1', '12345678', 'aaaaaaaaaaaa', 'abcdefghij', '98765432', 'ababababab']) {
    assert.equal(passwordStrength(pw).score, 1, pw);
  }
  assert.equal(passwordStrength('alice-rocks-2024', 'alice').score, 1);
  assert.notEqual(passwordStrength('alice-rocks-2024', 'bob').score, 1);
});

test('length and variety make it stronger', () => {
  const scores = ['kitchens', 'kitchentable', 'kitchen table', 'kitchen-table-7', 'purple kitchen table lamp'].map((p) => passwordStrength(p).score);
  assert.deepEqual(scores, [1, 2, 3, 4, 4]);
  assert.equal(passwordStrength('Tr0ub4dor&3').score, 3);
  assert.equal(passwordStrength('Tr0ub4dor&3').hint, '');
  assert.match(passwordStrength('kitchens').hint, /Longer/);
});
