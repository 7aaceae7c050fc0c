// One post on its own (where a like or comment notification leads).

import { api, enc } from '../api.js';
import { setTitle, navigate } from '../router.js';
import { emptyState, h, messageOf, replace, spinner } from '../ui.js';
import { renderPost } from './posts.js';

export function mount(root, { id }, ctx) {
  setTitle('Post');
  const body = h('div', { class: 'post-list' }, spinner('Loading post…'));
  root.append(h('div', { class: 'page page-post' },
    h('header', { class: 'page-head' },
      h('h1', { text: 'Post' }),
      h('a', { class: 'btn btn-ghost btn-sm', href: '#/feed', text: 'Back to feed' })),
    body));
  (async () => {
    try {
      const { post } = await api.get(`/api/posts/${enc(id)}`);
      if (!ctx.alive) return;
      setTitle(`Post by ${post.author.username}`);
      const el = renderPost(post, ctx, { onDelete: () => navigate('#/feed') });
      replace(body, el);
      // Open the comments straight away.
      el.querySelector('[data-testid="comment-toggle"]')?.click();
    } catch (e) {
      if (!ctx.alive) return;
      replace(body, emptyState(e.status === 404 ? 'This post is gone, or you cannot see it.' : messageOf(e)));
    }
  })();
}
