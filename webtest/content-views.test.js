// The pure parts of the post views: tag routes and the length count of
// posts and comments.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { routeFor } from '../assets/routes.js';
import { tagHref } from '../assets/text.js';
import { COMMENT_MAX, chars, countText, POST_MAX, tooLong } from '../assets/views/length-count.js';

describe('tag routes', () => {
  test('#/tags/<tag> is a tag page, lowercased as the server keeps tags', () => {
    const r = routeFor('#/tags/Rust', 'alice');
    assert.equal(r.name, 'tag');
    assert.deepEqual(r.params, { tag: 'rust' });
    assert.equal(r.nav, null);
    assert.deepEqual(routeFor('#/tags/caf%C3%A9', 'alice').params, { tag: 'café' });
  });

  test('#/tags alone lists what is trending', () => {
    const r = routeFor('#/tags', 'alice');
    assert.equal(r.name, 'trending');
    assert.deepEqual(r.params, { tag: null });
  });

  test('a tag link leads back to its route', () => {
    assert.equal(tagHref('Café'), '#/tags/caf%C3%A9');
    assert.deepEqual(routeFor(tagHref('日本'), 'alice').params, { tag: '日本' });
  });
});

describe('the length count', () => {
  test('counts characters as the server does: an emoji is one', () => {
    assert.equal(chars('héllo'), 5);
    assert.equal(chars('👍🏽'), 2, 'an emoji and its skin tone: two code points');
    assert.equal(chars('😀😀'), 2);
    assert.equal(chars(null), 0);
  });

  test('shows from 80 % of the limit, warns from 95 %, refuses past it', () => {
    assert.deepEqual(countText(10, COMMENT_MAX), { text: '10 / 2,000', show: false, near: false, over: false });
    assert.equal(countText(1600, COMMENT_MAX).show, true);
    assert.equal(countText(1899, COMMENT_MAX).near, false);
    assert.equal(countText(1900, COMMENT_MAX).near, true);
    assert.equal(countText(POST_MAX, POST_MAX).over, false);
    assert.equal(countText(POST_MAX + 1, POST_MAX).over, true);
    assert.equal(countText(POST_MAX + 1, POST_MAX).text, '10,001 / 10,000');
  });

  test('the error names the limit and the length', () => {
    assert.equal(tooLong('comment', 2003, COMMENT_MAX), 'A comment can be at most 2,000 characters; this one has 2,003.');
  });
});
