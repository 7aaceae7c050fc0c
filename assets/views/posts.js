// A post card: author, body (mentions and tags linked), the card of its
// first link, photos and videos (media/grid.js), likes and comments. Your
// own posts and comments can be edited in place (post-edit.js).

import { api, enc, qs } from '../api.js';
import { confirmAction } from '../confirm.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { mediaGrid, mediaOf } from '../mediakit/grid.js';
import { attachMentions, peopleSource } from '../mention-complete.js';
import { moreMenu } from '../menu.js';
import { openReport } from '../report.js';
import { unwatch, watchPosts } from '../live.js';
import { isMe } from '../store.js';
import { foldable, richText } from '../text.js';
import { toast } from '../toast.js';
import { timeEl } from '../time.js';
import { append, avatar, formError, h, messageOf, replace, uid } from '../ui.js';
import { COMMENT_MAX, chars, lengthCount, POST_MAX, tooLong } from './length-count.js';
import { linkCard } from './link-card.js';
import { editedLabel, editor, sendEdit } from './post-edit.js';

/** Whom `@` suggests in comments and editors: one source, so friends are fetched once a minute at most. */
export const people = peopleSource();

function userLink(user, cls, testid) {
  return h('a', { class: cls, href: `#/u/${encodeURIComponent(user.username)}`, testid, text: user.username });
}

/**
 * The "…" menu of a post or comment: Edit for your own, Delete for what
 * you may delete (yours, or a comment on your post), Report for what
 * someone else wrote.
 */
function itemMenu(kind, id, about, { canDelete, byMe, onDelete, onEdit }) {
  const items = [
    onEdit && { label: `Edit ${kind}`, testid: `${kind}-edit`, onSelect: onEdit },
    canDelete && { label: `Delete ${kind}`, testid: `${kind}-delete`, danger: true, onSelect: onDelete },
    !byMe && { label: `Report ${kind}`, testid: `report-${kind}`, onSelect: (opener) => openReport({ kind, id, about, opener }) },
  ].filter(Boolean);
  return items.length ? moreMenu(items, { label: `More actions for ${about}`, testid: `${kind}-menu` }) : null;
}

/**
 * Deleting a post or comment: asks first (saying what is lost), then
 * deletes `path`, takes `el` off the page and calls `done`.
 */
function deleter(kind, { lost, path, el, done }) {
  return async () => {
    const sure = await confirmAction({
      title: `Delete this ${kind}?`,
      body: `It is removed for everyone${lost}. This cannot be undone.`,
      confirmLabel: `Delete ${kind}`,
    });
    if (!sure) return;
    try {
      await api.del(path);
      el.remove();
      toast(`${kind[0].toUpperCase()}${kind.slice(1)} deleted.`);
      done();
    } catch (e) {
      toast(messageOf(e), 'error');
    }
  };
}

// ---- comments -------------------------------------------------------------

/** One comment; `postMine`: the reader wrote the post (and may delete any comment on it). */
function commentEl(c, { postMine, onDeleted }) {
  const byMe = isMe(c.author.username);
  const about = byMe ? 'your comment' : `${c.author.username}'s comment`;
  const li = h('li', { class: 'comment', testid: 'comment', dataset: { commentId: c.id } });
  const remove = deleter('comment', { lost: '', path: `/api/comments/${enc(c.id)}`, el: li, done: onDeleted });
  let current = c;
  const bodyOfComment = () => h('p', { class: 'comment-body', testid: 'comment-body' }, richText(current.body, { mentions: current.mentions }));
  let body = bodyOfComment();
  const edited = h('span', { class: 'edited-slot' }, editedLabel('comment', current));
  // Editing: the text gives way to an editor until saved or cancelled;
  // focus then returns to the "…" button it was opened from.
  const edit = (opener) => {
    const back = (fresh) => {
      if (fresh) current = { ...current, ...fresh };
      const next = bodyOfComment();
      ed.el.replaceWith(next);
      body = next;
      replace(edited, editedLabel('comment', current));
      opener?.focus();
    };
    const ed = editor({
      kind: 'comment',
      body: current.body,
      max: COMMENT_MAX,
      people,
      save: async (text) => back(await sendEdit('comment', c.id, text)),
      cancel: () => back(null),
    });
    body.replaceWith(ed.el);
    ed.focus();
  };
  return append(li,
    [avatar(c.author, 'sm'),
      h('div', { class: 'comment-main' },
        h('div', { class: 'comment-head' },
          userLink(c.author, 'comment-author', 'comment-author'),
          timeEl(c.created_at),
          edited,
          itemMenu('comment', c.id, about, { canDelete: byMe || postMine, byMe, onDelete: remove, onEdit: byMe ? edit : null })),
        body)]);
}

// ---- post -----------------------------------------------------------------

/** A post's text, links, mentions and tags clickable; in lists, folded after 8 lines (`fold`). */
function bodyOf(post, fold) {
  const el = h('p', { class: 'post-body', testid: 'post-body' }, richText(post.body, { mentions: post.mentions }));
  return fold ? foldable(el, { lines: 8 }) : el;
}

/** Renders one post as an <article>; it refreshes its own counts when they change elsewhere. */
export function renderPost(post, ctx, { onDelete, fold = false } = {}) {
  const likeCount = h('span', { class: 'count', testid: 'like-count', text: String(post.like_count) });
  const commentCount = h('span', { class: 'count', testid: 'comment-count', text: String(post.comment_count) });
  const likeBtn = h('button', {
    type: 'button',
    class: 'action like-button',
    testid: 'like-button',
    'aria-pressed': post.liked_by_me ? 'true' : 'false',
  }, icon('heart'), h('span', { class: 'sr-only', text: 'Like' }), likeCount);
  const commentsId = uid('comments');
  const toggle = h('button', {
    type: 'button',
    class: 'action comment-toggle',
    testid: 'comment-toggle',
    'aria-expanded': 'false',
    'aria-controls': commentsId,
  }, icon('comment'), h('span', { class: 'sr-only', text: 'Comments' }), commentCount);

  let current = post;
  // What the server last said, and what the reader wants (null: nothing
  // pending). Clicks apply at once and are sent one request at a time.
  let serverLiked = post.liked_by_me;
  let wanted = null;
  let liking = false;

  const apply = (p) => {
    current = p;
    serverLiked = p.liked_by_me;
    likeCount.textContent = String(p.like_count);
    commentCount.textContent = String(p.comment_count);
    if (wanted === null) likeBtn.setAttribute('aria-pressed', p.liked_by_me ? 'true' : 'false');
  };

  const syncLike = async () => {
    if (liking) return;
    liking = true;
    try {
      while (wanted !== null && wanted !== serverLiked) {
        const want = wanted;
        const path = `/api/posts/${enc(post.id)}/like`;
        const res = want ? await api.put(path) : await api.del(path);
        serverLiked = res.liked;
        current = { ...current, liked_by_me: res.liked, like_count: res.like_count };
      }
      wanted = null;
      apply(current);
    } catch (e) {
      wanted = null;
      apply(current);
      toast(messageOf(e), 'error');
    } finally {
      liking = false;
    }
  };

  likeBtn.addEventListener('click', () => {
    const now = likeBtn.getAttribute('aria-pressed') === 'true';
    wanted = !now;
    likeBtn.setAttribute('aria-pressed', wanted ? 'true' : 'false');
    const shown = Number(likeCount.textContent) || 0;
    likeCount.textContent = String(Math.max(0, shown + (wanted ? 1 : -1)));
    syncLike();
  });

  const commentOpts = {
    postMine: isMe(post.author.username),
    onDeleted: () => apply({ ...current, comment_count: Math.max(0, current.comment_count - 1) }),
  };

  // Comments, loaded when first shown.
  const list = h('ul', { class: 'comment-list', testid: 'comment-list' });
  const more = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', hidden: true, text: 'Show more comments' });
  const inputId = uid('comment');
  const input = h('input', {
    id: inputId,
    type: 'text',
    class: 'input',
    testid: 'comment-input',
    placeholder: 'Write a comment…',
    autocomplete: 'off',
  });
  const send = h('button', { type: 'submit', class: 'btn btn-primary btn-sm', testid: 'comment-submit', text: 'Reply' });
  const err = formError('comment-error');
  const commentLength = lengthCount(input, COMMENT_MAX);
  const form = h('form', { class: 'comment-form', novalidate: true },
    h('label', { class: 'sr-only', for: inputId, text: 'Write a comment' }),
    input, commentLength.el, send);
  const mentionBox = attachMentions(input, { candidates: people });
  ctx.cleanup(() => mentionBox.detach());
  const section = h('section', { class: 'comments', id: commentsId, hidden: true, 'aria-label': 'Comments' },
    list, more, form, err.el);
  let cursor = null;
  let loaded = false;
  let loading = false;

  const loadComments = async (reset) => {
    if (loading) return;
    loading = true;
    if (reset) cursor = null;
    try {
      const page = await api.get(`/api/posts/${enc(post.id)}/comments${qs({ limit: 50, cursor })}`);
      if (!ctx.alive) return;
      if (reset) replace(list);
      const have = new Set([...list.children].map((li) => li.dataset.commentId));
      for (const c of page.items) if (!have.has(c.id)) list.append(commentEl(c, commentOpts));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      loaded = true;
    } catch (e) {
      err.show(e);
    } finally {
      loading = false;
    }
  };
  more.addEventListener('click', () => loadComments(false));

  toggle.addEventListener('click', () => {
    const open = section.hidden;
    section.hidden = !open;
    toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) {
      if (!loaded) loadComments(true);
      input.focus();
    }
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const body = input.value;
    if (!body.trim()) {
      err.show('Write something first.');
      input.focus();
      return;
    }
    if (commentLength.over()) {
      err.show(tooLong('comment', chars(body), COMMENT_MAX));
      input.focus();
      return;
    }
    send.disabled = true;
    try {
      const { comment } = await api.post(`/api/posts/${enc(post.id)}/comments`, { body });
      input.value = '';
      commentLength.update();
      if (!list.querySelector(`[data-comment-id="${CSS.escape(comment.id)}"]`)) list.append(commentEl(comment, commentOpts));
      apply({ ...current, comment_count: current.comment_count + 1 });
      refresh();
    } catch (ex) {
      err.show(ex);
    } finally {
      send.disabled = false;
      input.focus();
    }
  });

  const refresh = async (kind) => {
    try {
      const { post: fresh } = await api.get(`/api/posts/${enc(post.id)}`);
      if (!ctx.alive) return;
      apply(fresh);
      showContent(fresh);
      if (kind === 'comment' && loaded && !section.hidden) loadComments(true);
    } catch {
      // deleted or no longer visible; leave it
    }
  };

  const author = post.author;
  const mine = isMe(author.username);
  const deletePost = deleter('post', {
    lost: ', with its photos, likes and comments',
    path: `/api/posts/${enc(post.id)}`,
    el: { remove: () => article.remove() },
    done: () => onDelete?.(post),
  });
  // The text and link card, redrawn when an edit (here or elsewhere) or a
  // newly fetched card changes them; left alone while being edited.
  const content = h('div', { class: 'post-content' });
  const edited = h('span', { class: 'edited-slot' });
  let shownKey = null;
  let editing = false;
  const showContent = (p, force = false) => {
    const key = JSON.stringify([p.body, p.edited_at, p.link || null, p.mentions || null]);
    if (editing || (!force && key === shownKey)) return;
    shownKey = key;
    current = { ...current, body: p.body, edited_at: p.edited_at, link: p.link, mentions: p.mentions };
    replace(content, p.body ? bodyOf(p, fold) : null, linkCard(p.link));
    const label = editedLabel('post', current);
    replace(edited, label ? [h('span', { 'aria-hidden': 'true', text: '·' }), label] : null);
  };
  const edit = (opener) => {
    editing = true;
    const back = (fresh) => {
      editing = false;
      if (fresh) apply({ ...current, ...fresh });
      showContent(current, true);
      opener?.focus();
    };
    const ed = editor({
      kind: 'post',
      body: current.body || '',
      max: POST_MAX,
      emptyOk: mediaOf(current).length > 0,
      people,
      save: async (text) => back(await sendEdit('post', post.id, text)),
      cancel: () => back(null),
    });
    replace(content, ed.el);
    ed.focus();
  };

  const menu = itemMenu('post', post.id, mine ? 'your post' : `${author.username}'s post`, {
    canDelete: mine && onDelete !== false,
    byMe: mine,
    onDelete: deletePost,
    onEdit: mine ? edit : null,
  });

  const visibility = post.visibility === 'friends'
    ? h('span', { class: 'visibility', title: 'Friends only' }, icon('lock', 'icon icon-xs'), h('span', { text: 'Friends' }))
    : h('span', { class: 'visibility', title: 'Public' }, icon('globe', 'icon icon-xs'), h('span', { text: 'Public' }));

  const article = h('article', { class: 'post card', testid: 'post', dataset: { postId: post.id } },
    h('header', { class: 'post-head' },
      avatar(author),
      h('div', { class: 'post-meta' },
        h('div', { class: 'post-names' },
          userLink(author, 'post-author', 'post-author'),
          author.display_name && author.display_name !== author.username
            ? h('span', { class: 'display-name', text: author.display_name }) : null),
        h('div', { class: 'post-sub' }, timeEl(post.created_at), h('span', { 'aria-hidden': 'true', text: '·' }), visibility, edited)),
      menu),
    content,
    mediaOf(post).length ? mediaGrid(mediaOf(post), ctx) : null,
    h('footer', { class: 'post-actions' }, likeBtn, toggle),
    section);

  showContent(post);
  ctx.on(EVENTS.POST_STALE, (d) => {
    if (d.id === post.id) refresh(d.kind);
  });
  // Live while on screen: counts move and comments appear as they happen
  // (docs/protocol.md, `watch`). A click still in flight wins over a
  // count that crossed it.
  const watchKey = uid('watch');
  watchPosts(watchKey, [post.id]);
  ctx.cleanup(() => unwatch(watchKey));
  ctx.on(EVENTS.LIVE_COUNTS, (d) => {
    if (d.post_id !== post.id || wanted !== null || liking) return;
    apply({ ...current, like_count: d.like_count, comment_count: d.comment_count });
  });
  ctx.on(EVENTS.LIVE_COMMENT, (d) => {
    if (d.post_id !== post.id || !loaded) return;
    const old = list.querySelector(`[data-comment-id="${CSS.escape(d.comment.id)}"]`);
    const el = commentEl(d.comment, commentOpts);
    if (old) old.replaceWith(el);
    else list.append(el);
  });
  ctx.on(EVENTS.LIVE_COMMENT_REMOVED, (d) => {
    if (d.post_id !== post.id) return;
    list.querySelector(`[data-comment-id="${CSS.escape(d.comment_id)}"]`)?.remove();
  });
  return article;
}
