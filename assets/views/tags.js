// A tag's page (#/tags/<tag>): the posts with that tag you can see, newest
// first, a page at a time; and, without a tag (#/tags), what is trending.

import { api, enc, qs } from '../api.js';
import { setTitle } from '../router.js';
import { isTag } from '../text.js';
import { emptyState, h } from '../ui.js';
import { postList } from './post-list.js';
import { NARROW, once, trendingPanel, withSide } from './trending.js';

export function mount(root, { tag }, ctx) {
  if (!tag) {
    setTitle('Trending');
    const panel = trendingPanel({ look: 'list', testid: 'trending-page' });
    root.append(h('div', { class: 'page page-trending' },
      h('header', { class: 'page-head' }, h('h1', { text: 'Trending tags' })),
      h('p', { class: 'muted', text: 'The tags of the most public posts of the last 24 hours.' }),
      h('div', { class: 'card section' }, panel.el)));
    panel.load();
    return;
  }

  setTitle(`#${tag}`);
  const head = h('header', { class: 'page-head tag-head' },
    h('h1', { class: 'tag-name', testid: 'tag-name', text: `#${tag}` }));
  const page = h('div', { class: 'page page-tag', dataset: { tag } }, head);
  if (!isTag(tag)) {
    page.append(emptyState('That is not a tag.', 'A tag is letters, digits and _, up to 50 characters.'));
    root.append(page);
    return;
  }
  // Trending beside the posts on a wide screen, as a row above them on a
  // narrow one (css/tags.css shows one or the other).
  const row = trendingPanel({ look: 'chips', current: tag, testid: 'trending-row' });
  const side = trendingPanel({ look: 'list', current: tag });
  const list = postList(ctx, {
    fetchPage: (cursor) => api.get(`/api/tags/${enc(tag)}${qs({ limit: 20, cursor })}`),
    emptyTitle: `No posts with #${tag} yet.`,
    emptyDetail: 'Posts you can see that use this tag show up here, newest first.',
  });
  page.append(
    h('p', { class: 'muted small tag-about', text: 'Posts you can see with this tag, newest first.' }),
    row.el,
    h('h2', { class: 'sr-only', text: 'Posts' }),
    list.el);
  root.append(withSide(ctx, page, side));
  list.load();
  once(ctx, NARROW, () => row.load());
}
