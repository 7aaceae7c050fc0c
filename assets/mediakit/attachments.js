// The files being attached to a post or a message: each starts uploading
// (resumably, ./tus.js) the moment it is added, and carries its alt text,
// its place in the order, its upload progress and, once uploaded, its
// media view as processing goes on.
//
// No DOM here: the composer and the chat box draw it (composer-files.js),
// and tests drive it with a fake upload. A draft's list outlives the view
// that shows it, so leaving the page mid-upload loses nothing.

import { TusUpload } from './tus.js';

/** Items a post or message may carry (docs/media.md). */
export const MAX_ITEMS = 10;
/** The longest alt text (docs/media.md). */
export const MAX_ALT = 1500;

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|heic|heif|avif)$/i;
const VIDEO_EXT = /\.(mp4|m4v|mov|mkv|webm|avi|ogv|ogg|ts|mts)$/i;

/** 'image', 'video' or 'other', from the type the browser gives or else the name. */
export function kindOf(file) {
  const type = (file.type || '').toLowerCase();
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('video/')) return 'video';
  if (IMAGE_EXT.test(file.name || '')) return 'image';
  if (VIDEO_EXT.test(file.name || '')) return 'video';
  return 'other';
}

/** `list` with the item at `index` moved by `delta` places (clamped); a new array. */
export function moveItem(list, index, delta) {
  const to = Math.max(0, Math.min(list.length - 1, index + delta));
  if (index < 0 || index >= list.length || to === index) return list.slice();
  const out = list.slice();
  const [it] = out.splice(index, 1);
  out.splice(to, 0, it);
  return out;
}

/**
 * What an item shows in its status pill: uploading | offline (waiting for
 * the network) | retrying | queued | processing | ready | failed.
 */
export function statusOf(item) {
  if (item.error) return 'failed';
  if (item.phase === 'uploading') return item.net === 'offline' ? 'offline' : item.net === 'retrying' ? 'retrying' : 'uploading';
  const m = item.media;
  return m?.status || 'queued';
}

/** A size for people: 1.2 MB. */
export function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1_000_000) return `${(n / 1000).toFixed(0)} kB`;
  if (n < 1_000_000_000) return `${(n / 1_000_000).toFixed(1)} MB`;
  return `${(n / 1_000_000_000).toFixed(2)} GB`;
}

let keys = 0;

/**
 * A list of attachments.
 *
 * options:
 * - max: how many items (MAX_ITEMS)
 * - scope: the signed-in user's id (keeps resumable uploads apart per user)
 * - createUpload(file, { onProgress, onState, scope }) -> { start(), abort() } (a TusUpload)
 * - fetchView(id) -> Promise<MediaView>: asked once an upload is complete
 * - onChange(): after every change
 */
export class Attachments {
  constructor({ max = MAX_ITEMS, scope = '', createUpload, fetchView, onChange } = {}) {
    this.max = max;
    this.scope = scope;
    this.createUpload = createUpload || ((file, opts) => new TusUpload(file, opts));
    this.fetchView = fetchView || (() => Promise.resolve(null));
    /** Set by whoever shows the list; the list lives longer than any one view. */
    this.onChange = onChange || (() => {});
    /** { key, file, name, size, kind, alt, phase: uploading|uploaded, net, sent, mediaId, media, error, upload } */
    this.items = [];
  }

  #changed() {
    this.onChange();
  }

  /** Adds files, up to the limit; returns { added, refused } counts. */
  add(files) {
    let added = 0;
    let refused = 0;
    for (const file of files) {
      if (this.items.length >= this.max) {
        refused += 1;
        continue;
      }
      const item = {
        key: `att-${++keys}`,
        file,
        name: file.name || 'file',
        size: file.size,
        kind: kindOf(file),
        alt: '',
        phase: 'uploading',
        net: 'uploading',
        sent: 0,
        mediaId: null,
        media: null,
        error: null,
        upload: null,
      };
      this.items.push(item);
      added += 1;
      this.#start(item);
    }
    if (added || refused) this.#changed();
    return { added, refused };
  }

  #start(item) {
    if (item.kind === 'other' && item.file.type) {
      // Not worth a round trip: the server would say the same (415).
      item.error = `${item.name} is not a photo or video.`;
      return;
    }
    const upload = this.createUpload(item.file, {
      scope: this.scope,
      onProgress: (sent) => {
        item.sent = sent;
        this.#changed();
      },
      onState: (s) => {
        if (s === 'uploading' || s === 'retrying' || s === 'offline') {
          item.net = s;
          this.#changed();
        }
      },
    });
    item.upload = upload;
    upload.start().then(async ({ id }) => {
      if (!this.items.includes(item)) return;
      item.phase = 'uploaded';
      item.sent = item.size;
      item.mediaId = id;
      item.upload = null;
      this.#changed();
      try {
        const view = await this.fetchView(id);
        if (view) this.mediaChanged(view);
      } catch {
        // the media frames will tell
      }
    }, (err) => {
      if (!this.items.includes(item) || item.upload !== upload) return;
      item.upload = null;
      item.error = err?.message || 'The upload failed.';
      this.#changed();
    });
  }

  #find(key) {
    return this.items.findIndex((it) => it.key === key);
  }

  /** Removes an item; an unfinished upload is cancelled (and deleted on the server). */
  remove(key) {
    const i = this.#find(key);
    if (i < 0) return;
    const [item] = this.items.splice(i, 1);
    if (item.upload) item.upload.abort();
    this.#changed();
  }

  /** Moves an item `delta` places (-1 left, +1 right). */
  move(key, delta) {
    const i = this.#find(key);
    if (i < 0) return;
    this.items = moveItem(this.items, i, delta);
    this.#changed();
  }

  setAlt(key, text) {
    const i = this.#find(key);
    if (i < 0) return;
    this.items[i].alt = String(text).slice(0, MAX_ALT);
  }

  /** A media view from a frame or a fetch: the item it belongs to takes it. */
  mediaChanged(view) {
    const item = this.items.find((it) => it.mediaId && it.mediaId === view.id);
    if (!item) return;
    item.media = view;
    if (view.status === 'failed') item.error = view.error ? `Processing failed: ${view.error}` : 'Processing failed.';
    this.#changed();
  }

  /** Items uploaded whose processing is not over yet (to check on now and then). */
  processing() {
    return this.items.filter((it) => it.mediaId && !it.error && it.media?.status !== 'ready');
  }

  /** Still sending bytes? */
  get uploading() {
    return this.items.some((it) => it.phase === 'uploading' && !it.error);
  }

  /** Any item that failed (to be removed before sending). */
  get failed() {
    return this.items.some((it) => !!it.error);
  }

  get count() {
    return this.items.length;
  }

  /** Ready to send: every byte uploaded (processing may go on server-side) and nothing failed. */
  get sendable() {
    return !this.uploading && !this.failed;
  }

  /** What a post or a `send` frame carries: [{ id, alt }], in order. */
  payload() {
    return this.items.filter((it) => it.mediaId).map((it) => ({ id: it.mediaId, alt: it.alt }));
  }

  /**
   * Empties the list. After sending, the uploads are attached and stay;
   * `cancel` also cancels unfinished uploads (leaving a draft for good).
   */
  clear({ cancel = false } = {}) {
    if (cancel) for (const it of this.items) it.upload?.abort();
    this.items = [];
    this.#changed();
  }
}
