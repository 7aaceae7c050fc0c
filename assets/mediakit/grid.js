// The photos and videos of a post or a message as a grid: one item full
// width, two side by side, three as one big and two small, four or more
// as 2x2 with "+N" on the fourth. A photo tile is its thumbnail over its
// blurhash and opens the lightbox; a video plays in place, with a button
// to open it in the lightbox too. Items still processing show a badge that
// follows the owner's `media` frames, and everyone else's checks.

import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { fetchMedia, state } from '../store.js';
import { h } from '../ui.js';
import { openLightbox } from './lightbox.js';
import { photo } from './picture.js';

/** Tiles shown; the last one says how many more there are. */
export const MAX_TILES = 4;
/** Items not yet ready are checked this often (only their owner gets media frames). */
const MEDIA_POLL_MS = 5000;
/** Checks at most (ten minutes at MEDIA_POLL_MS): an item still not ready by then is not coming. */
const MEDIA_POLLS = 120;

/** A post's media list: `media`, or the single video of an older post (`media_id`). */
export function mediaOf(post) {
  if (Array.isArray(post?.media) && post.media.length) return post.media;
  return post?.media_id ? [{ id: post.media_id }] : [];
}

/** How `n` items are laid out: the tiles shown and the count left for "+N". */
export function layoutOf(n) {
  const shown = Math.min(n, MAX_TILES);
  return { shown, more: n - shown, cls: `n-${shown}` };
}

const isFinal = (v) => v?.status === 'ready' || v?.status === 'failed';

function badgeText(v) {
  if (!v?.status) return 'Loading…';
  if (v.status === 'failed') return 'Could not be processed';
  if (v.status === 'queued') return 'Waiting to be processed';
  const pct = Math.round((v.progress || 0) * 100);
  return `Processing${pct ? ` ${pct}%` : '…'}`;
}

/** The `sizes` of a tile: how wide it is shown, for the browser's choice of variant. */
function sizesFor(count, compact) {
  if (compact) return count === 1 ? '280px' : '140px';
  return count === 1 ? '(max-width: 719px) 100vw, 640px' : '(max-width: 719px) 50vw, 320px';
}

/**
 * The grid for `items` (media views, possibly only `{ id, alt }`), living
 * as long as `ctx` ({ alive, cleanup }). `compact`: a chat message's size.
 */
export function mediaGrid(items, ctx, { compact = false } = {}) {
  // The views as known now, each with the alt text its post or message gave it.
  const views = items.map((it) => {
    const known = state.media.get(it.id);
    const base = it.status ? it : known || it;
    return { ...base, alt: it.alt ?? base.alt ?? null };
  });
  const n = views.length;
  const { shown, cls } = layoutOf(n);
  const grid = h('div', { class: ['media-grid', cls, compact ? 'compact' : null], testid: 'media-grid' });
  const tiles = [];

  const open = (i, opener) => openLightbox(views, i, { opener });

  const tile = (i) => {
    const v = views[i];
    const kindWord = v.kind === 'video' ? 'Video' : 'Photo';
    const label = `${kindWord} ${i + 1} of ${n}${v.alt ? `: ${v.alt}` : ''}`;
    const more = i === shown - 1 && n > shown ? n - shown : 0;
    const moreEl = more ? h('span', { class: 'tile-more', 'aria-hidden': 'true', text: `+${more}` }) : null;
    const moreLabel = more ? ` (and ${more} more)` : '';

    if (v.status === 'ready' && v.kind === 'video' && v.url) {
      const attrs = {
        class: 'post-video',
        testid: 'post-video',
        controls: true,
        preload: 'metadata',
        playsinline: true,
        src: v.url,
        poster: v.poster_url || null,
        'aria-label': v.alt || `Video ${i + 1} of ${n}`,
      };
      if (v.width && v.height) {
        attrs.width = String(v.width);
        attrs.height = String(v.height);
      }
      const video = h('video', attrs, h('p', { text: 'Your browser cannot play this video.' }));
      const expand = h('button', { type: 'button', class: 'tile-expand', 'aria-label': `Open ${label}${moreLabel} in the viewer`, title: 'Open in the viewer' }, icon('expand', 'icon icon-xs'));
      expand.addEventListener('click', () => {
        video.pause();
        open(i, expand);
      });
      return h('div', { class: 'media-tile is-video', dataset: { mediaId: v.id } }, video, expand, moreEl);
    }
    if (v.status === 'ready') {
      const b = h('button', { type: 'button', class: 'media-tile', 'aria-label': `${label}${moreLabel}`, dataset: { mediaId: v.id } },
        photo(v, { alt: v.alt || '', sizes: sizesFor(shown, compact) }),
        moreEl);
      b.addEventListener('click', () => open(i, b));
      return b;
    }
    // Not ready: its blurhash (a photo's is known early) or an icon, and a badge.
    const failed = v.status === 'failed';
    const badge = h('span', { class: ['media-badge', failed ? 'failed' : null], testid: 'media-badge', role: 'status', text: badgeText(v) });
    return h('div', { class: ['media-tile', 'is-pending', failed ? 'is-failed' : null], dataset: { mediaId: v.id, status: v.status || 'loading' } },
      v.blurhash ? photo({ blurhash: v.blurhash, width: v.width, height: v.height }, {}) : null,
      h('span', { class: 'tile-icon' }, icon(v.kind === 'video' ? 'video' : 'image', 'icon icon-lg')),
      badge,
      moreEl);
  };

  for (let i = 0; i < shown; i += 1) {
    tiles[i] = tile(i);
    grid.append(tiles[i]);
  }

  const take = (fresh) => {
    const i = views.findIndex((v) => v.id === fresh.id);
    if (i < 0) return;
    const old = views[i];
    // A frame never takes an item back from a final state (store.setMedia's rule too).
    if (isFinal(old) && old.status !== fresh.status) return;
    views[i] = { ...old, ...fresh, alt: old.alt };
    if (i < shown) {
      const same = old.status === views[i].status;
      if (same && views[i].status !== 'processing') return;
      if (same) {
        const badge = tiles[i].querySelector('.media-badge');
        if (badge) badge.textContent = badgeText(views[i]);
        return;
      }
      const next = tile(i);
      const hadFocus = tiles[i].contains(document.activeElement);
      tiles[i].replaceWith(next);
      tiles[i] = next;
      if (hadFocus && next.tabIndex >= 0) next.focus({ preventScroll: true });
    }
  };

  // Follow the items not ready yet: frames (ours), else checks now and then.
  if (views.some((v) => !isFinal(v))) {
    let off = bus.on(EVENTS.MEDIA_CHANGED, (v) => {
      if (ctx.alive) take(v);
    });
    let timer = null;
    let polls = 0;
    const stop = () => {
      clearTimeout(timer);
      off();
      off = () => {};
    };
    const check = async () => {
      const pending = views.filter((v) => !isFinal(v));
      if (!pending.length || !ctx.alive || polls >= MEDIA_POLLS) {
        stop();
        return;
      }
      polls += 1;
      await Promise.all(pending.map((v) => fetchMedia(v.id).then(take, () => {
        // Gone or not ours to see: show it as unavailable.
        take({ id: v.id, status: 'failed' });
      })));
      if (ctx.alive && views.some((v) => !isFinal(v))) timer = setTimeout(check, MEDIA_POLL_MS);
      else stop();
    };
    ctx.cleanup(stop);
    // Items known only by id are fetched at once; the others at the next check.
    if (views.some((v) => !v.status)) check();
    else timer = setTimeout(check, MEDIA_POLL_MS);
  }
  return grid;
}

/** A short description of attachments for a preview line: "Photo", "2 photos", "Video", "3 attachments". */
export function describeMedia(media) {
  const list = media || [];
  if (!list.length) return '';
  const kinds = new Set(list.map((m) => m.kind || 'attachment'));
  const kind = kinds.size === 1 ? [...kinds][0] : 'attachment';
  const word = kind === 'image' ? 'photo' : kind === 'video' ? 'video' : 'attachment';
  return list.length === 1 ? word[0].toUpperCase() + word.slice(1) : `${list.length} ${word}s`;
}
