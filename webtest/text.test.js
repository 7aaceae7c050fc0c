// @mentions, #tags and links in user text (assets/text.js): the same
// cases as core/src/text.rs's tests, so client and server agree.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MAX_MENTIONS, MAX_TAG_CHARS, hashtags, isTag, mentions, tokens } from '../assets/text.js';

describe('mentions (core/src/text.rs mentions)', () => {
  test('finds mentions at word starts only', () => {
    assert.deepEqual(
      mentions('hi @bob and @Carol_1, mail me@example.com or @al. (@dan.s)'),
      ['bob', 'Carol_1', 'dan.s'],
    );
    assert.deepEqual(mentions('@bob @BOB @bob'), ['bob']);
    assert.deepEqual(mentions('@ab @_x @'), [], 'too short or a bad start');
    assert.deepEqual(mentions('end with @eve.'), ['eve']);
    const many = Array.from({ length: 30 }, (_, i) => `@user${i} `).join('');
    assert.equal(mentions(many).length, MAX_MENTIONS);
  });

  test('a name longer than 32 characters is no mention at all, not a cut one', () => {
    assert.deepEqual(mentions(`@${'a'.repeat(32)}`), ['a'.repeat(32)]);
    assert.deepEqual(mentions(`@${'a'.repeat(33)}`), []);
  });

  test('letters of any script, `_`, `.` and `/` before the @ join it to a word', () => {
    assert.deepEqual(mentions('é@bob _@bob .@bob /@bob 1@bob'), []);
    assert.deepEqual(mentions('(@bob) "@eve" —@dan\n@amy'), ['bob', 'eve', 'dan', 'amy']);
  });
});

describe('hashtags (core/src/text.rs hashtags, is_tag)', () => {
  test('finds tags in any script', () => {
    assert.deepEqual(
      hashtags('#Rust and #rust, #café #日本 #1 #a_b page#x https://x.io/#frag'),
      ['rust', 'café', '日本', 'a_b'],
    );
    assert.deepEqual(hashtags('# nothing'), []);
    assert.ok(isTag('café') && !isTag('123') && !isTag('a-b') && !isTag(''));
    assert.deepEqual(hashtags(`#${'x'.repeat(MAX_TAG_CHARS + 1)}`), []);
  });

  test('at most ten, and characters counted as code points', () => {
    const many = Array.from({ length: 12 }, (_, i) => `#t${i}`).join(' ');
    assert.equal(hashtags(many).length, 10);
    assert.deepEqual(hashtags(`#${'𝒳'.repeat(MAX_TAG_CHARS)}`), ['𝒳'.repeat(MAX_TAG_CHARS)]);
    assert.ok(isTag('x'.repeat(MAX_TAG_CHARS)) && !isTag('x'.repeat(MAX_TAG_CHARS + 1)));
    assert.ok(isTag('1a') && isTag('٣'), 'only ASCII digits make a number');
  });
});

describe('tokens: what richText links', () => {
  const kinds = (t) => t.map((x) => [x.type, x.text]);

  test('mentions, tags and URLs in one text; the rest stays text', () => {
    const t = tokens('hi @bob, see #Rust at https://x.io/a#b. @nobody');
    assert.deepEqual(kinds(t), [
      ['text', 'hi '], ['mention', '@bob'], ['text', ', see '], ['tag', '#Rust'],
      ['text', ' at '], ['url', 'https://x.io/a#b'], ['text', '. '], ['mention', '@nobody'],
    ]);
    assert.equal(t[3].tag, 'rust');
    assert.equal(t[5].href, 'https://x.io/a#b');
  });

  test('with the server\'s list, only the users it names link, under their own spelling', () => {
    const t = tokens('@BOB and @nobody and @bob.', { mentions: ['bob'] });
    assert.deepEqual(kinds(t), [['mention', '@BOB'], ['text', ' and @nobody and '], ['mention', '@bob'], ['text', '.']]);
    assert.deepEqual([t[0].username, t[2].username], ['bob', 'bob']);
    assert.deepEqual(kinds(tokens('@bob', { mentions: [] })), [['text', '@bob']]);
  });

  test('a mention or tag inside a URL is part of the URL', () => {
    assert.deepEqual(kinds(tokens('https://x.io/?who=@bob&t=?#tag')), [['url', 'https://x.io/?who=@bob&t=?#tag']]);
  });

  test('mail addresses, anchors and numbers are not linked; markup is text', () => {
    assert.deepEqual(kinds(tokens('me@example.com page#x #1 <b>@bob</b>')), [
      ['text', 'me@example.com page#x #1 <b>'], ['mention', '@bob'], ['text', '</b>'],
    ]);
    assert.deepEqual(kinds(tokens('javascript:alert(1)')), [['text', 'javascript:alert(1)']]);
  });

  test('only the first ten tags link, as only they are indexed', () => {
    const text = Array.from({ length: 11 }, (_, i) => `#t${i}`).join(' ');
    assert.equal(tokens(text).filter((x) => x.type === 'tag').length, 10);
  });

  test('empty and missing text', () => {
    assert.deepEqual(tokens(''), []);
    assert.deepEqual(tokens(null), []);
  });
});
