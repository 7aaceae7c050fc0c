// A list of posts loaded page by page, as the feed and profiles show them.

import { loadError } from '../load-error.js';
import { emptyState, h, replace, spinner } from '../ui.js';
import { renderPost } from './posts.js';

/**
 * A list of posts loaded page by page (infinite scroll with a "Load more"
 * button as the keyboard path).
 */
export function postList(ctx, { fetchPage, emptyTitle, emptyDetail }) {
  const items = h('div', { class: 'post-list', testid: 'post-list' });
  const status = h('div', { class: 'list-status' });
  const moreBtn = h('button', { type: 'button', class: 'btn btn-secondary', hidden: true, text: 'Load more' });
  // A failed page: one error with "Try again" (no "Load more"); it loads
  // again by itself once the connection is back.
  const err = loadError({ retry: () => load(), testid: 'list-error' });
  const root = h('div', { class: 'posts' }, items, err.el, status, moreBtn);
  let cursor = null;
  let loading = false;
  let ended = false;
  const seen = new Set();

  const showEmpty = () => {
    if (!items.querySelector('[data-testid="post"]')) {
      if (!items.querySelector('.empty')) items.append(emptyState(emptyTitle, emptyDetail));
    } else {
      items.querySelector('.empty')?.remove();
    }
  };

  const load = async () => {
    if (loading || ended) return;
    loading = true;
    err.clear();
    replace(status, spinner('Loading posts…'));
    moreBtn.hidden = true;
    try {
      const page = await fetchPage(cursor);
      if (!ctx.alive) return;
      for (const p of page.items) {
        if (seen.has(p.id)) continue;
        seen.add(p.id);
        items.append(renderPost(p, ctx, { fold: true, onDelete: () => { seen.delete(p.id); showEmpty(); } }));
      }
      cursor = page.next_cursor;
      ended = !cursor;
      moreBtn.hidden = ended;
      showEmpty();
    } catch (e) {
      if (ctx.alive) err.show(e);
    } finally {
      loading = false;
      replace(status);
    }
  };

  moreBtn.addEventListener('click', load);
  ctx.onReconnect(() => {
    if (err.failed) load();
  });
  if ('IntersectionObserver' in window) {
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && cursor && !loading && !err.failed) load();
    }, { rootMargin: '400px' });
    io.observe(moreBtn);
    io.observe(status);
    ctx.cleanup(() => io.disconnect());
  }

  return {
    el: root,
    load,
    /** Whether post `id` is listed. */
    has: (id) => seen.has(id),
    /** Puts a new post at the top. */
    prepend(post) {
      if (seen.has(post.id)) return;
      seen.add(post.id);
      items.prepend(renderPost(post, ctx, { fold: true, onDelete: () => { seen.delete(post.id); showEmpty(); } }));
      showEmpty();
    },
  };
}
