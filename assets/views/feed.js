// The feed: a composer (text with @mention suggestions, visibility, up to
// 10 photos and videos with alt text) and the posts of you and your
// friends, newest first; trending tags beside them on a wide screen.

import { api, qs } from '../api.js';
import { EVENTS } from '../events.js';
import { Attachments, MAX_ITEMS } from '../mediakit/attachments.js';
import { attachmentTray, filePicker } from '../mediakit/composer-files.js';
import { acceptFiles } from '../mediakit/file-drop.js';
import { unwatch, watchFeed } from '../live.js';
import { attachMentions } from '../mention-complete.js';
import { setTitle } from '../router.js';
import { fetchMedia, isMe, state } from '../store.js';
import { toast } from '../toast.js';
import { avatar, formError, h, messageOf, uid } from '../ui.js';
import { chars, lengthCount, POST_MAX, tooLong } from './length-count.js';
import { postList } from './post-list.js';
import { people } from './posts.js';
import { trendingPanel, withSide } from './trending.js';

/** While offline, uploads being processed are checked this often, since their frames cannot arrive. */
const MEDIA_CATCH_UP_MS = 4000;

// The draft outlives the view, so leaving the feed mid-upload loses nothing.
const draft = {
  owner: null,
  body: '',
  visibility: 'public',
  /** The attached files (an Attachments list), made per signed-in user. */
  files: null,
};

/** The visibility `username` last chose in the composer, kept in this browser. */
const visibilityKey = (username) => `kith.composer.visibility.${username}`;

function storedVisibility(username) {
  try {
    const v = localStorage.getItem(visibilityKey(username));
    return v === 'public' || v === 'friends' ? v : null;
  } catch {
    return null;
  }
}

function storeVisibility(username, value) {
  try {
    localStorage.setItem(visibilityKey(username), value);
  } catch {
    // private mode or full: the choice lasts for this page only
  }
}

function newFiles(owner) {
  return new Attachments({ scope: owner, fetchView: fetchMedia });
}

export function mount(root, _params, ctx) {
  setTitle('Feed');
  const me = state.me;
  if (draft.owner !== me.id) {
    // Someone else's draft (signed out and in as another user): drop it.
    draft.files?.clear({ cancel: true });
    draft.body = '';
    draft.visibility = storedVisibility(me.username) || 'public';
    draft.files = newFiles(me.id);
    draft.owner = me.id;
  }
  const files = draft.files;
  const err = formError();

  const bodyId = uid('composer');
  const body = h('textarea', {
    id: bodyId,
    class: 'input composer-input',
    testid: 'composer-body',
    rows: '3',
    placeholder: `What's on your mind, ${me.display_name || me.username}?`,
  });
  body.value = draft.body;
  const length = lengthCount(body, POST_MAX);

  const visId = uid('visibility');
  const visibility = h('select', { id: visId, class: 'select', testid: 'composer-visibility' },
    h('option', { value: 'public', text: 'Public' }),
    h('option', { value: 'friends', text: 'Friends' }));
  visibility.value = draft.visibility;

  const add = (list) => {
    err.clear();
    const { refused } = files.add(list);
    if (refused) err.show(`A post can carry at most ${MAX_ITEMS} photos and videos; ${refused === 1 ? 'one file was' : `${refused} files were`} left out.`);
  };
  const picker = filePicker({ testid: 'composer-video', label: 'Photo/video', onFiles: add });
  const tray = attachmentTray(files, { label: 'Photos and videos for this post' });
  ctx.cleanup(() => tray.dispose());

  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'composer-submit', text: 'Post' });
  const waitNote = h('span', { class: 'composer-wait muted small', role: 'status' });

  const form = h('form', { class: 'composer card', testid: 'composer', novalidate: true },
    h('div', { class: 'composer-top' },
      avatar(me),
      h('div', { class: 'composer-field' },
        h('label', { class: 'sr-only', for: bodyId, text: 'What’s on your mind?' }),
        body)),
    tray.el,
    h('div', { class: 'composer-bar' },
      picker.button, picker.input,
      h('label', { class: 'sr-only', for: visId, text: 'Who can see this post' }),
      visibility,
      h('span', { class: 'spacer' }),
      length.el,
      waitNote,
      submit),
    h('p', { class: 'drop-hint', 'aria-hidden': 'true', text: 'Drop photos and videos to add them' }),
    err.el);
  ctx.cleanup(acceptFiles(form, add));
  const mentionBox = attachMentions(body, { candidates: people });
  ctx.cleanup(() => mentionBox.detach());

  let posting = false;

  const render = () => {
    tray.update();
    submit.disabled = posting || !files.sendable;
    waitNote.textContent = files.uploading ? 'Waiting for uploads…'
      : files.failed ? 'Remove the failed file to post.' : '';
  };
  files.onChange = render;
  ctx.cleanup(() => {
    if (files.onChange === render) files.onChange = () => {};
  });

  // Frames for our uploads, including any that came while the feed was not shown.
  for (const it of files.processing()) {
    const v = state.media.get(it.mediaId);
    if (v) files.mediaChanged(v);
  }
  ctx.on(EVENTS.MEDIA_CHANGED, (v) => files.mediaChanged(v));
  // Catch up after a reconnect, and check now and then in case a frame
  // was missed.
  const catchUp = () => {
    for (const it of files.processing()) fetchMedia(it.mediaId).then((v) => files.mediaChanged(v), () => {});
  };
  ctx.on(EVENTS.REALTIME_OPEN, catchUp);
  ctx.interval(() => {
    if (state.transport.state !== 'open') catchUp();
  }, MEDIA_CATCH_UP_MS);
  // Offline and back: the rows say so at once, before the upload's next try.
  ctx.listen(window, 'online', render);
  ctx.listen(window, 'offline', render);

  body.addEventListener('input', () => {
    draft.body = body.value;
  });
  body.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  // The choice is theirs until they change it: kept after posting and
  // across reloads (per user, in this browser).
  visibility.addEventListener('change', () => {
    draft.visibility = visibility.value;
    storeVisibility(me.username, visibility.value);
  });

  const list = postList(ctx, {
    fetchPage: (cursor) => api.get(`/api/feed${qs({ limit: 20, cursor })}`),
    emptyTitle: 'No posts yet — say something!',
    emptyDetail: 'Posts from you and your friends show up here.',
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    if (submit.disabled) return;
    const text = body.value;
    if (!text.trim() && !files.count) {
      err.show('Write something or add a photo to post.');
      body.focus();
      return;
    }
    if (length.over()) {
      err.show(tooLong('post', chars(text), POST_MAX));
      body.focus();
      return;
    }
    const payload = { body: text, visibility: visibility.value };
    if (files.count) payload.media = files.payload();
    posting = true;
    render();
    try {
      const { post } = await api.post('/api/posts', payload);
      draft.body = '';
      body.value = '';
      length.update();
      // Attached now: the uploads stay, only the draft lets go of them.
      files.clear();
      list.prepend(post);
      toast('Posted.');
    } catch (ex) {
      err.show(ex);
    } finally {
      posting = false;
      render();
    }
  });

  // "N new posts": friends' posts told live (docs/protocol.md, `watch`
  // with `feed`), shown on demand so the list never jumps under the reader.
  const fresh = new Set();
  const newPosts = h('button', { type: 'button', class: 'btn btn-secondary new-posts', testid: 'new-posts', hidden: true });
  const newPostsLive = h('div', { class: 'sr-only', 'aria-live': 'polite' });
  watchFeed('feed', true);
  ctx.cleanup(() => unwatch('feed'));
  ctx.on(EVENTS.LIVE_FEED_POST, (d) => {
    if (isMe(d.author) || list.has(d.post_id)) return;
    fresh.add(d.post_id);
    const n = fresh.size;
    newPosts.textContent = n === 1 ? '1 new post' : `${n} new posts`;
    newPosts.hidden = false;
    newPostsLive.textContent = newPosts.textContent;
  });
  newPosts.addEventListener('click', async () => {
    newPosts.disabled = true;
    try {
      const page = await api.get(`/api/feed${qs({ limit: 20 })}`);
      if (!ctx.alive) return;
      for (const p of [...page.items].reverse()) list.prepend(p);
      fresh.clear();
      newPosts.hidden = true;
      list.el.scrollIntoView({ block: 'start', behavior: 'smooth' });
    } catch (e) {
      toast(messageOf(e), 'error');
    } finally {
      newPosts.disabled = false;
    }
  });

  const page = h('div', { class: 'page page-feed' },
    h('header', { class: 'page-head' }, h('h1', { text: 'Feed' })),
    form,
    h('h2', { class: 'sr-only', text: 'Posts' }),
    newPosts,
    newPostsLive,
    list.el);
  root.append(withSide(ctx, page, trendingPanel({ look: 'list' })));
  render();
  list.load();
}
