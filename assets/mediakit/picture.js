// A processed photo as the page shows it: a <picture> offering WebP with a
// JPEG fallback, the variants (thumb 400 px, display 2048 px) as a srcset
// so the browser takes the smallest that fills the space, lazily loaded
// over its blurhash, which fades out once the photo is in.

import { h } from '../ui.js';
import { blurhashCanvas } from './blurhash.js';

/** The variant called `name` of a media view, or null. */
export function variantOf(view, name) {
  return (view?.variants || []).find((v) => v.name === name) || null;
}

/** A srcset of every variant in `format` (webp|jpeg), smallest first: "a.webp 400w, b.webp 2048w". */
export function srcsetOf(view, format, names = ['thumb', 'display']) {
  return names
    .map((n) => variantOf(view, n))
    .filter((v) => v?.[format] && v.width)
    .sort((a, b) => a.width - b.width)
    .map((v) => `${v[format]} ${v.width}w`)
    .join(', ');
}

/** The JPEG (else anything) to use as the <img> src: of `prefer`, else of any variant, else the view's url. */
export function fallbackSrc(view, prefer = 'thumb') {
  const v = variantOf(view, prefer) || (view?.variants || [])[0];
  return v?.jpeg || v?.webp || view?.url || '';
}

/** Width and height to reserve, from the oriented original (else the first variant). */
export function sizeOf(view) {
  if (view?.width && view?.height) return [view.width, view.height];
  const v = (view?.variants || [])[0];
  return v?.width && v?.height ? [v.width, v.height] : [4, 3];
}

/**
 * A photo over its blurhash: `<span class="photo">` holding the canvas and
 * the <picture>. `prefer` is the variant for browsers without srcset
 * support; `sizes` tells the browser how wide it is shown; `eager` loads
 * at once (the lightbox) instead of when scrolled near.
 */
export function photo(view, { alt = '', sizes = '100vw', prefer = 'thumb', names = ['thumb', 'display'], eager = false } = {}) {
  const [w, ht] = sizeOf(view);
  const img = h('img', {
    src: fallbackSrc(view, prefer),
    alt,
    width: String(w),
    height: String(ht),
    loading: eager ? 'eager' : 'lazy',
    decoding: 'async',
    draggable: 'false',
  });
  const jpegs = srcsetOf(view, 'jpeg', names);
  if (jpegs) {
    img.setAttribute('srcset', jpegs);
    img.setAttribute('sizes', sizes);
  }
  const webps = srcsetOf(view, 'webp', names);
  const picture = h('picture', {}, webps ? h('source', { type: 'image/webp', srcset: webps, sizes }) : null, img);
  const blur = blurhashCanvas(view?.blurhash);
  const box = h('span', { class: 'photo' }, blur, picture);
  const loaded = () => box.classList.add('loaded');
  if (img.complete && img.naturalWidth) loaded();
  else img.addEventListener('load', loaded, { once: true });
  img.addEventListener('error', () => box.classList.add('broken'), { once: true });
  return box;
}
