// A local preview of a chosen file, before the server has seen it: the
// image itself from an object URL, or a video's first frame drawn on a
// canvas. Files the browser cannot show (HEIC on most browsers) get an
// icon instead.

import { icon } from '../icons.js';
import { h } from '../ui.js';

/** Where in a video its preview frame is taken: past a black first frame, not far in. */
const FRAME_AT_S = 0.1;

function fallback(kind) {
  return h('span', { class: 'upload-thumb-icon' }, icon(kind === 'video' ? 'video' : 'image', 'icon icon-lg'));
}

/** { el, revoke() }: a preview of `file` (of `kind` image|video|other). */
export function filePreview(file, kind) {
  const box = h('span', { class: 'upload-thumb', 'aria-hidden': 'true' });
  if (kind !== 'image' && kind !== 'video') {
    box.append(fallback(kind));
    return { el: box, revoke() {} };
  }
  const url = URL.createObjectURL(file);
  let revoked = false;
  const revoke = () => {
    if (!revoked) URL.revokeObjectURL(url);
    revoked = true;
  };
  if (kind === 'image') {
    const img = h('img', { src: url, alt: '', decoding: 'async' });
    img.addEventListener('error', () => img.replaceWith(fallback(kind)), { once: true });
    box.append(img);
    return { el: box, revoke };
  }
  // A video: seek a little way in, draw that frame, and let the file go.
  box.append(fallback(kind));
  const video = h('video', { muted: true, playsinline: true, preload: 'auto', src: url });
  video.muted = true;
  video.addEventListener('loadeddata', () => {
    video.currentTime = Math.min(FRAME_AT_S, (video.duration || 1) / 2);
  }, { once: true });
  video.addEventListener('seeked', () => {
    const w = video.videoWidth;
    const ht = video.videoHeight;
    if (w && ht) {
      const scale = Math.min(1, 240 / Math.max(w, ht));
      const canvas = h('canvas', { width: String(Math.round(w * scale)), height: String(Math.round(ht * scale)) });
      canvas.getContext('2d')?.drawImage(video, 0, 0, canvas.width, canvas.height);
      box.replaceChildren(canvas);
    }
    video.removeAttribute('src');
    video.load();
    revoke();
  }, { once: true });
  video.addEventListener('error', revoke, { once: true });
  return { el: box, revoke };
}
