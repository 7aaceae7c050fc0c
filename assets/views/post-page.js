// One post on its own (where a like or comment notification leads).

import { api, enc } from '../api.js';
import { loadError } from '../load-error.js';
import { setTitle, navigate } from '../router.js';
import { emptyState, h, replace, spinner } from '../ui.js';
import { renderPost } from './posts.js';

export function mount(root, { id }, ctx) {
  setTitle('Post');
  const body = h('div', { class: 'post-list' }, spinner('Loading post…'));
  root.append(h('div', { class: 'page page-post' },
    h('header', { class: 'page-head' },
      h('h1', { text: 'Post' }),
      h('a', { class: 'btn btn-ghost btn-sm', href: '#/feed', text: 'Back to feed' })),
    body));
  // Could not load (offline?): one error with "Try again"; it loads again
  // by itself once the connection is back.
  const loadErr = loadError({ retry: () => load() });
  ctx.onReconnect(() => {
    if (loadErr.failed) load();
  });
  const load = async () => {
    if (loadErr.failed) replace(body, spinner('Loading post…'));
    loadErr.clear();
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
      if (e.status === 404) {
        replace(body, emptyState('This post is gone, or you cannot see it.'));
        return;
      }
      loadErr.show(e);
      replace(body, loadErr.el);
    }
  };
  load();
}
