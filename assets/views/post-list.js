// A list of posts loaded page by page, as the feed and profiles show them.

import { emptyState, formError, h, replace, spinner } from '../ui.js';
import { renderPost } from './posts.js';

/**
 * A list of posts loaded page by page (infinite scroll with a "Load more"
 * button as the keyboard path).
 */
export function postList(ctx, { fetchPage, emptyTitle, emptyDetail }) {
  const items = h('div', { class: 'post-list', testid: 'post-list' });
  const status = h('div', { class: 'list-status' });
  const moreBtn = h('button', { type: 'button', class: 'btn btn-secondary', hidden: true, text: 'Load more' });
  const err = formError('list-error');
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
        items.append(renderPost(p, ctx, { onDelete: () => { seen.delete(p.id); showEmpty(); } }));
      }
      cursor = page.next_cursor;
      ended = !cursor;
      moreBtn.hidden = ended;
      showEmpty();
    } catch (e) {
      if (ctx.alive) err.show(e);
      moreBtn.hidden = false;
    } finally {
      loading = false;
      replace(status);
    }
  };

  moreBtn.addEventListener('click', load);
  if ('IntersectionObserver' in window) {
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && cursor && !loading) load();
    }, { rootMargin: '400px' });
    io.observe(moreBtn);
    io.observe(status);
    ctx.cleanup(() => io.disconnect());
  }

  return {
    el: root,
    load,
    /** Puts a new post at the top. */
    prepend(post) {
      if (seen.has(post.id)) return;
      seen.add(post.id);
      items.prepend(renderPost(post, ctx, { onDelete: () => { seen.delete(post.id); showEmpty(); } }));
      showEmpty();
    },
  };
}
