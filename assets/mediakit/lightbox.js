// The lightbox: a post's or message's photos and videos one at a time,
// over the whole page, at `display` size with their alt text; previous and
// next by button, arrow key or swipe; closed by Escape, the close button
// or a click beside the picture. It is a modal <dialog>, so the page
// behind is inert; Tab also wraps inside it, and the focus goes back to
// the tile that opened it.

import { icon } from '../icons.js';
import { h, replace } from '../ui.js';
import { photo } from './picture.js';

/** A horizontal swipe at least this long (px), and more sideways than up or down, turns the page. */
export const SWIPE_PX = 50;

/** Which way a swipe from (x0, y0) to (x1, y1) turns: -1 back, 1 on, 0 not a swipe. */
export function swipeDirection(x0, y0, x1, y1, min = SWIPE_PX) {
  const dx = x1 - x0;
  const dy = y1 - y0;
  if (Math.abs(dx) < min || Math.abs(dx) < Math.abs(dy) * 1.5) return 0;
  return dx < 0 ? 1 : -1;
}

/** The index `delta` away from `index` in a list of `n`, wrapping around. */
export function step(index, delta, n) {
  return n ? (((index + delta) % n) + n) % n : 0;
}

function focusables(root) {
  return [...root.querySelectorAll('button, [href], video[controls], input, textarea, select, [tabindex]:not([tabindex="-1"])')]
    .filter((el) => !el.disabled && !el.hidden && el.getClientRects().length);
}

function slide(view, label) {
  if (view?.status !== 'ready') {
    return h('div', { class: 'lb-pending' },
      icon(view?.kind === 'video' ? 'video' : 'image', 'icon icon-xl'),
      h('p', { text: view?.status === 'failed' ? 'This could not be processed.' : 'Still processing…' }));
  }
  if (view.kind === 'video') {
    return h('video', {
      class: 'lb-video',
      controls: true,
      playsinline: true,
      preload: 'metadata',
      src: view.url,
      poster: view.poster_url || null,
      'aria-label': view.alt || label,
    });
  }
  return photo(view, { alt: view.alt || '', prefer: 'display', names: ['display'], sizes: '100vw', eager: true });
}

/**
 * Opens the lightbox on `views[index]`. `views` is read again on every
 * turn, so items finishing processing meanwhile show as they are now.
 * `opener` gets the focus back on close.
 */
export function openLightbox(views, index, { opener = document.activeElement } = {}) {
  let at = index;
  const n = () => views.length;
  const counter = h('span', { class: 'lb-count', 'aria-live': 'polite' });
  const figure = h('figure', { class: 'lb-figure' });
  const caption = h('figcaption', { class: 'lb-alt' });
  const close = h('button', { type: 'button', class: 'btn btn-icon lb-btn lb-close', testid: 'lightbox-close', 'aria-label': 'Close' }, icon('x'));
  const prev = h('button', { type: 'button', class: 'btn btn-icon lb-btn lb-prev', testid: 'lightbox-prev', 'aria-label': 'Previous' }, icon('back'));
  const next = h('button', { type: 'button', class: 'btn btn-icon lb-btn lb-next', testid: 'lightbox-next', 'aria-label': 'Next' }, icon('forward'));
  const stage = h('div', { class: 'lb-stage' }, prev, figure, next);
  const dialog = h('dialog', { class: 'lightbox', testid: 'lightbox', 'aria-label': 'Photos and videos' },
    h('div', { class: 'lb-top' }, counter, close),
    stage,
    caption);

  const show = () => {
    const view = views[at];
    const label = `${view?.kind === 'video' ? 'Video' : 'Photo'} ${at + 1} of ${n()}`;
    for (const v of figure.querySelectorAll('video')) v.pause();
    replace(figure, slide(view, label));
    counter.textContent = n() > 1 ? `${at + 1} / ${n()}` : '';
    caption.textContent = view?.alt || '';
    caption.hidden = !view?.alt;
    prev.hidden = n() < 2;
    next.hidden = n() < 2;
  };
  const go = (delta) => {
    if (n() < 2) return;
    at = step(at, delta, n());
    show();
  };

  let closed = false;
  const done = () => {
    if (closed) return;
    closed = true;
    for (const v of dialog.querySelectorAll('video')) v.pause();
    if (dialog.open) dialog.close();
    dialog.remove();
    if (opener?.isConnected) opener.focus({ preventScroll: true });
  };

  close.addEventListener('click', done);
  prev.addEventListener('click', () => go(-1));
  next.addEventListener('click', () => go(1));
  // Escape: the dialog's own cancel, closed our way so the focus goes back.
  dialog.addEventListener('cancel', (e) => {
    e.preventDefault();
    done();
  });
  dialog.addEventListener('close', done);
  // A click on the backdrop or beside the picture closes, as on every photo site.
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog || e.target === stage || e.target === figure) done();
  });
  dialog.addEventListener('keydown', (e) => {
    const inVideo = e.target instanceof HTMLVideoElement;
    if (e.key === 'ArrowLeft' && !inVideo) {
      e.preventDefault();
      go(-1);
    } else if (e.key === 'ArrowRight' && !inVideo) {
      e.preventDefault();
      go(1);
    } else if (e.key === 'Tab') {
      const f = focusables(dialog);
      if (!f.length) return;
      const first = f[0];
      const last = f[f.length - 1];
      if (e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    }
  });
  // Swipes, by touch only (a mouse drag selects or drags as usual).
  let start = null;
  stage.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'touch') start = { x: e.clientX, y: e.clientY };
  });
  stage.addEventListener('pointerup', (e) => {
    if (!start || e.pointerType !== 'touch') return;
    const d = swipeDirection(start.x, start.y, e.clientX, e.clientY);
    start = null;
    if (d) go(d);
  });
  stage.addEventListener('pointercancel', () => {
    start = null;
  });

  show();
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  return { close: done, go };
}
