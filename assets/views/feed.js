// The feed: a composer (text, visibility, optional video) and the posts of
// you and your friends, newest first.

import { api, qs, uploadMedia } from '../api.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { setTitle } from '../router.js';
import { fetchMedia, state } from '../store.js';
import { toast } from '../toast.js';
import { avatar, formError, h, uid } from '../ui.js';
import { postList } from './post-list.js';

/** While offline, an upload being processed is checked this often, since its frames cannot arrive. */
const MEDIA_CATCH_UP_MS = 4000;

// The draft outlives the view, so leaving the feed mid-upload loses nothing.
const draft = {
  owner: null,
  body: '',
  visibility: 'public',
  /** { name, uploaded: 0..1, mediaId, media: MediaView|null, phase, abort } */
  upload: null,
  listener: null,
};

function uploadBusy(u) {
  if (!u) return false;
  if (u.phase === 'uploading') return true;
  const st = u.media ? u.media.status : 'queued';
  return st !== 'ready';
}

function notify() {
  if (draft.listener) draft.listener();
}

function startUpload(file) {
  if (draft.upload?.abort && draft.upload.phase === 'uploading') draft.upload.abort();
  const u = { name: file.name, size: file.size, uploaded: 0, mediaId: null, media: null, phase: 'uploading', abort: null, error: null };
  draft.upload = u;
  const { promise, abort } = uploadMedia(file, (frac) => {
    u.uploaded = frac;
    notify();
  });
  u.abort = abort;
  notify();
  promise.then(async (res) => {
    if (draft.upload !== u) return;
    u.uploaded = 1;
    u.phase = 'transcoding';
    u.mediaId = res.id;
    // A frame may have overtaken the upload's response.
    u.media = state.media.get(res.id) || { id: res.id, status: res.status || 'queued', progress: 0 };
    notify();
    try {
      await fetchMedia(res.id);
    } catch {
      // frames will tell
    }
  }, (err) => {
    if (draft.upload !== u) return;
    u.phase = 'error';
    u.error = err;
    notify();
  });
}

function clearUpload() {
  const u = draft.upload;
  if (u && u.phase === 'uploading' && u.abort) u.abort();
  draft.upload = null;
  notify();
}

export function mount(root, _params, ctx) {
  setTitle('Feed');
  const me = state.me;
  if (draft.owner !== me.id) {
    // Someone else's draft (signed out and in as another user): drop it.
    if (draft.upload?.abort && draft.upload.phase === 'uploading') draft.upload.abort();
    draft.body = '';
    draft.visibility = 'public';
    draft.upload = null;
    draft.owner = me.id;
  }
  const err = formError();

  const bodyId = uid('composer');
  const body = h('textarea', {
    id: bodyId,
    class: 'input composer-input',
    testid: 'composer-body',
    rows: '3',
    maxlength: '10000',
    placeholder: `What's on your mind, ${me.display_name || me.username}?`,
  });
  body.value = draft.body;

  const visId = uid('visibility');
  const visibility = h('select', { id: visId, class: 'select', testid: 'composer-visibility' },
    h('option', { value: 'public', text: 'Public' }),
    h('option', { value: 'friends', text: 'Friends' }));
  visibility.value = draft.visibility;

  const fileId = uid('video');
  const file = h('input', { id: fileId, type: 'file', accept: 'video/*', class: 'file-input', testid: 'composer-video' });
  const fileLabel = h('label', { for: fileId, class: 'btn btn-ghost btn-file' }, icon('video'), h('span', { text: 'Video' }));

  const submit = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'composer-submit', text: 'Post' });

  // Attachment panel.
  const uploadProgress = h('progress', { class: 'progress', testid: 'upload-progress', max: '1', value: '0', 'aria-label': 'Upload progress' });
  const uploadPct = h('span', { class: 'progress-pct', text: '0%' });
  const transcodeProgress = h('progress', { class: 'progress', testid: 'transcode-progress', max: '1', value: '0', 'aria-label': 'Processing progress' });
  const transcodePct = h('span', { class: 'progress-pct', text: '0%' });
  const mediaStatus = h('span', { class: 'media-status', testid: 'media-status', text: '' });
  const fileName = h('span', { class: 'attach-name' });
  const removeBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', testid: 'remove-video', text: 'Remove' });
  const preview = h('div', { class: 'attach-preview' });
  const attachment = h('div', { class: 'attachment', testid: 'attachment', hidden: true },
    h('div', { class: 'attach-head' }, icon('video'), fileName, h('span', { class: 'status-pill' }, mediaStatus), removeBtn),
    h('div', { class: 'progress-row' }, h('span', { class: 'progress-label', text: 'Upload' }), uploadProgress, uploadPct),
    h('div', { class: 'progress-row' }, h('span', { class: 'progress-label', text: 'Processing' }), transcodeProgress, transcodePct),
    preview);

  const form = h('form', { class: 'composer card', testid: 'composer', novalidate: true },
    h('div', { class: 'composer-top' },
      avatar(me),
      h('div', { class: 'composer-field' },
        h('label', { class: 'sr-only', for: bodyId, text: 'What’s on your mind?' }),
        body)),
    attachment,
    h('div', { class: 'composer-bar' },
      fileLabel, file,
      h('label', { class: 'sr-only', for: visId, text: 'Who can see this post' }),
      visibility,
      h('span', { class: 'spacer' }),
      submit),
    err.el);

  let posting = false;
  let previewFor = null;

  const render = () => {
    const u = draft.upload;
    attachment.hidden = !u;
    if (u) {
      fileName.textContent = u.name;
      uploadProgress.value = u.uploaded;
      uploadPct.textContent = `${Math.round(u.uploaded * 100)}%`;
      const m = u.media;
      const status = u.phase === 'uploading' ? 'uploading' : u.phase === 'error' ? 'failed' : (m ? m.status : 'queued');
      mediaStatus.textContent = status;
      mediaStatus.dataset.status = status;
      const tp = m ? (m.status === 'ready' ? 1 : Math.max(0, Math.min(1, m.progress || 0))) : 0;
      transcodeProgress.value = tp;
      transcodePct.textContent = `${Math.round(tp * 100)}%`;
      removeBtn.textContent = u.phase === 'uploading' ? 'Cancel' : 'Remove';
      if (m && m.status === 'ready' && m.poster_url && previewFor !== m.id) {
        previewFor = m.id;
        preview.replaceChildren(h('img', { src: m.poster_url, alt: 'Video preview', class: 'poster-preview' }));
      } else if (m?.status !== 'ready') {
        previewFor = null;
        preview.replaceChildren();
      }
      if (m && m.status === 'failed') {
        preview.replaceChildren(h('p', { class: 'media-note', text: m.error ? `Processing failed: ${m.error}` : 'Processing failed.' }));
      }
    } else {
      previewFor = null;
      preview.replaceChildren();
      mediaStatus.textContent = '';
    }
    submit.disabled = posting || uploadBusy(u);
  };

  draft.listener = () => {
    const u = draft.upload;
    if (u && u.phase === 'error') {
      err.show(u.error);
      draft.upload = null;
      file.value = '';
    }
    render();
  };
  ctx.cleanup(() => {
    draft.listener = null;
  });

  ctx.on(EVENTS.MEDIA_CHANGED, (v) => {
    const u = draft.upload;
    if (u && u.mediaId === v.id) {
      u.media = v;
      render();
    }
  });
  // Catch up after a reconnect, and check now and then in case a frame
  // was missed.
  const catchUp = () => {
    const u = draft.upload;
    if (u?.mediaId && uploadBusy(u)) fetchMedia(u.mediaId).catch(() => {});
  };
  ctx.on(EVENTS.REALTIME_OPEN, catchUp);
  ctx.interval(() => {
    if (state.transport.state !== 'open') catchUp();
  }, MEDIA_CATCH_UP_MS);

  body.addEventListener('input', () => {
    draft.body = body.value;
  });
  body.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  visibility.addEventListener('change', () => {
    draft.visibility = visibility.value;
  });
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (!f) return;
    err.clear();
    startUpload(f);
  });
  removeBtn.addEventListener('click', () => {
    clearUpload();
    file.value = '';
    fileLabel.focus();
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
    if (!text.trim()) {
      err.show('Write something to post.');
      body.focus();
      return;
    }
    const u = draft.upload;
    const payload = { body: text, visibility: visibility.value };
    if (u?.mediaId) payload.media_id = u.mediaId;
    posting = true;
    render();
    try {
      const { post } = await api.post('/api/posts', payload);
      draft.body = '';
      draft.upload = null;
      body.value = '';
      file.value = '';
      list.prepend(post);
      toast('Posted.');
    } catch (ex) {
      err.show(ex);
    } finally {
      posting = false;
      render();
    }
  });

  root.append(
    h('div', { class: 'page page-feed' },
      h('header', { class: 'page-head' }, h('h1', { text: 'Feed' })),
      form,
      h('h2', { class: 'sr-only', text: 'Posts' }),
      list.el));
  draft.listener();
  list.load();
}
