// Suggesting people for @mentions (assets/mention-complete.js): where the
// caret's `@name` is, what choosing someone writes, who is offered first.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { insertMention, mentionQuery, rankPeople } from '../assets/mention-complete.js';

/** The query at the `|` of `marked` (the bar itself removed). */
const at = (marked) => mentionQuery(marked.replace('|', ''), marked.indexOf('|'));

describe('mentionQuery', () => {
  test('the name being typed after an @ at a word start', () => {
    assert.deepEqual(at('hi @bo|'), { start: 3, end: 6, prefix: 'bo' });
    assert.deepEqual(at('@a|'), { start: 0, end: 2, prefix: 'a' });
    assert.deepEqual(at('(@dan.s|'), { start: 1, end: 7, prefix: 'dan.s' });
    assert.deepEqual(at('x\n@eve|'), { start: 2, end: 6, prefix: 'eve' });
  });

  test('a caret inside a name takes the whole name', () => {
    assert.deepEqual(at('hi @bo|b there'), { start: 3, end: 7, prefix: 'bo' });
  });

  test('nothing for a bare @, a mail address, a bad start or a caret past the name', () => {
    assert.equal(at('hi @|'), null);
    assert.equal(at('me@exa|'), null);
    assert.equal(at('é@bob|'), null);
    assert.equal(at('@_x|'), null);
    assert.equal(at('@bob |'), null);
    assert.equal(at('bob|'), null);
    assert.equal(at(`@${'a'.repeat(33)}|`), null);
    assert.equal(mentionQuery('@bob', 9), null);
    assert.equal(mentionQuery('@bob', -1), null);
  });

  test('a character outside the basic plane before the @ counts as one', () => {
    assert.equal(at('𝒳@bo|'), null, 'a letter joins the word');
    assert.deepEqual(at('😀@bo|'), { start: 2, end: 5, prefix: 'bo' });
  });
});

describe('insertMention', () => {
  test('replaces the typed name with the chosen one and a space', () => {
    const q = at('hi @bo|');
    assert.deepEqual(insertMention('hi @bo', q, 'bob'), { value: 'hi @bob ', caret: 8 });
  });

  test('keeps the text after it, reusing a space already there', () => {
    const q = at('hi @bo|b, there');
    assert.deepEqual(insertMention('hi @bob, there', q, 'Bobby'), { value: 'hi @Bobby , there', caret: 10 });
    const r = at('@c| and more');
    assert.deepEqual(insertMention('@c and more', r, 'carol'), { value: '@carol and more', caret: 7 });
  });
});

describe('rankPeople', () => {
  const people = [
    { username: 'carol', display_name: 'Bob’s sister' },
    { username: 'bobby', display_name: 'Bobby' },
    { username: 'bob', display_name: 'Robert' },
    { username: 'BOB', display_name: 'a repeat' },
    { username: 'alice', display_name: 'Alice Bobson' },
    { username: 'dan', display_name: 'Dan' },
  ];

  test('an exact name, then names starting with it, then display names; repeats once', () => {
    assert.deepEqual(rankPeople(people, 'Bob').map((u) => u.username), ['bob', 'bobby', 'carol', 'alice']);
  });

  test('the limit, the one left out, and nothing for an empty prefix', () => {
    assert.deepEqual(rankPeople(people, 'bob', { limit: 2 }).map((u) => u.username), ['bob', 'bobby']);
    assert.deepEqual(rankPeople(people, 'bob', { exclude: 'BOB' }).map((u) => u.username), ['bobby', 'carol', 'alice']);
    assert.deepEqual(rankPeople(people, ''), []);
    assert.deepEqual(rankPeople(null, 'bob'), []);
  });
});
