// Trending tags (GET /api/tags/trending): the ten tags of the most public
// posts of the last 24 hours. A list with counts beside the feed and tag
// pages on a wide screen; a row of tags on the search page.

import { api } from '../api.js';
import { tagHref } from '../text.js';
import { h, replace, spinner, uid } from '../ui.js';

/**
 * Panels opened together (a tag page's row and side column) share one
 * request; a page opened later asks again, so a tag used a moment ago
 * shows on its own page.
 */
const SHARED_MS = 2_000;

let cached = null;

/** The trending tags ([{ tag, posts }]). */
function fetchTrending() {
  if (!cached) {
    const p = api.get('/api/tags/trending').then((r) => (Array.isArray(r?.items) ? r.items : []));
    cached = p;
    const forget = () => setTimeout(() => {
      if (cached === p) cached = null;
    }, SHARED_MS);
    p.then(forget, forget);
  }
  return cached;
}

const postsText = (n) => `${n} ${n === 1 ? 'post' : 'posts'} today`;

/**
 * A "Trending" section: { el, load() }. `look`: 'list' (tags with their
 * counts, for a side column) or 'chips' (a wrapping row). `current`: the
 * tag whose page this is (marked aria-current).
 */
export function trendingPanel({ look = 'list', current = null, testid = 'trending' } = {}) {
  const headingId = uid('trending');
  const body = h('div', { class: 'trending-body' });
  const el = h('section', { class: ['trending', `trending-${look}`], testid, 'aria-labelledby': headingId },
    h('h2', { class: 'trending-title', id: headingId, text: 'Trending' }),
    body);
  let loading = false;

  const show = (items) => {
    if (!items.length) {
      replace(body, h('p', { class: 'muted small', testid: 'trending-empty', text: 'No tags in today’s public posts yet.' }));
      return;
    }
    replace(body, h('ol', { class: 'trending-items' }, items.map(({ tag, posts }) => h('li', { class: 'trending-item' },
      h('a', {
        class: 'trending-link',
        href: tagHref(tag),
        testid: 'trending-tag',
        dataset: { tag },
        'aria-current': tag === current ? 'page' : null,
      },
      h('span', { class: 'trending-tag', text: `#${tag}` }),
      look === 'list' ? h('span', { class: 'trending-count', text: postsText(posts) }) : null)))));
  };

  const load = async () => {
    if (loading) return;
    loading = true;
    replace(body, spinner('Loading trending tags…'));
    try {
      show(await fetchTrending());
    } catch {
      replace(body, h('p', { class: 'muted small', text: 'Trending tags could not be loaded.' }));
    } finally {
      loading = false;
    }
  };
  return { el, load };
}

/** Runs `fn` once, as soon as the media query `query` matches (now or later). */
export function once(ctx, query, fn) {
  const mq = window.matchMedia(query);
  let done = false;
  const check = () => {
    if (mq.matches && !done) {
      done = true;
      fn();
    }
  };
  ctx.listen(mq, 'change', check);
  check();
}

/** The width from which pages have a side column (css/tags.css, .side-layout). */
export const WIDE = '(min-width: 1200px)';
export const NARROW = '(max-width: 1199px)';

/**
 * A page with a side column at desktop width: `page` (the .page element)
 * and `panel` (a trendingPanel, loaded only once the side column shows).
 */
export function withSide(ctx, page, panel) {
  const side = h('aside', { class: 'page-side', 'aria-label': 'Trending tags' }, panel.el);
  once(ctx, WIDE, () => panel.load());
  return h('div', { class: 'side-layout' }, page, side);
}
