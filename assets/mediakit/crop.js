// The square crop of a new profile photo, done in the browser: the photo
// fitted in a stage, a square over it to drag (or move with the arrow
// keys), a zoom slider that shrinks the square, and a round preview as
// avatars are shown. What leaves the browser is only the square, re-drawn
// on a canvas (which also drops the file's metadata, GPS included).
//
// The geometry is plain functions in image pixels, tested in node; the
// dialog is a modal <dialog> drawn on canvases (no inline styles: CSP).

import { h } from '../ui.js';

/** The stage's side in CSS pixels (style.css's .crop-stage caps it by the viewport). */
export const STAGE_PX = 320;
/** The most the square can shrink: a quarter of the photo's short side. */
export const MAX_ZOOM = 4;
/** The side of the uploaded square; the server makes 48, 96 and 256 px from it. */
export const OUTPUT_PX = 512;
/** An arrow key moves the square by this share of its side (Shift: five times as far). */
const KEY_STEP = 0.05;

const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));

/** How an image of w x h fits a square stage of `stage` px: { scale, dx, dy } (stage px per image px, and the offset). */
export function fitIn(w, h, stage = STAGE_PX) {
  const scale = Math.min(stage / w, stage / h);
  return { scale, dx: (stage - w * scale) / 2, dy: (stage - h * scale) / 2 };
}

/** The side of the square at `zoom` (1: the whole short side). */
export function squareSide(w, h, zoom) {
  return Math.min(w, h) / clamp(zoom, 1, MAX_ZOOM);
}

/**
 * The square in image pixels, { x, y, side }, for a centre (cx, cy) and a
 * zoom, moved back inside the image when it would stick out.
 */
export function cropRect(w, h, { cx, cy, zoom }) {
  const side = squareSide(w, h, zoom);
  const x = clamp(cx - side / 2, 0, w - side);
  const y = clamp(cy - side / 2, 0, h - side);
  return { x, y, side };
}

/** The centre after moving by (dx, dy) image pixels, kept where the square stays inside. */
export function moveCenter(w, h, crop, dx, dy) {
  const side = squareSide(w, h, crop.zoom);
  return {
    ...crop,
    cx: clamp(crop.cx + dx, side / 2, w - side / 2),
    cy: clamp(crop.cy + dy, side / 2, h - side / 2),
  };
}

/** The size of the uploaded square: OUTPUT_PX, or less for a small photo (never enlarged). */
export function outputSide(side) {
  return Math.max(1, Math.min(OUTPUT_PX, Math.round(side)));
}

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => resolve({ img, url });
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error('This image cannot be opened here. Try a JPEG, PNG, WebP or GIF.'));
    };
    img.src = url;
  });
}

function toBlob(canvas, type, quality) {
  return new Promise((resolve) => canvas.toBlob(resolve, type, quality));
}

/** The square as WebP, or JPEG where the browser cannot write WebP (it would hand back a PNG). */
async function encode(canvas) {
  const webp = await toBlob(canvas, 'image/webp', 0.9);
  if (webp && webp.type === 'image/webp') return webp;
  return toBlob(canvas, 'image/jpeg', 0.9);
}

/**
 * Asks for the square of `file` to use: resolves to a Blob (WebP or JPEG),
 * or null when cancelled. Rejects when the browser cannot open the image.
 */
export async function cropDialog(file, { opener = document.activeElement } = {}) {
  const { img, url } = await loadImage(file);
  const w = img.naturalWidth;
  const ht = img.naturalHeight;
  let crop = { cx: w / 2, cy: ht / 2, zoom: 1 };

  const dpr = Math.min(2, window.devicePixelRatio || 1);
  const stage = h('canvas', {
    class: 'crop-stage',
    width: String(STAGE_PX * dpr),
    height: String(STAGE_PX * dpr),
    tabindex: '0',
    // Arrow keys belong to the square, also under a screen reader.
    role: 'application',
    'aria-label': 'The photo with the square to keep. Drag the square, or use the arrow keys; plus and minus zoom.',
  });
  const preview = h('canvas', { class: 'crop-preview', width: '192', height: '192', 'aria-hidden': 'true' });
  const zoomId = `crop-zoom-${Date.now()}`;
  const zoom = h('input', { id: zoomId, type: 'range', class: 'crop-zoom', min: '1', max: String(MAX_ZOOM), step: '0.01', value: '1' });
  const cancel = h('button', { type: 'button', class: 'btn btn-ghost', testid: 'crop-cancel', text: 'Cancel' });
  const save = h('button', { type: 'button', class: 'btn btn-primary', testid: 'crop-save', text: 'Use this photo' });
  const titleId = `crop-title-${Date.now()}`;
  const dialog = h('dialog', { class: 'crop-dialog card', testid: 'crop-dialog', 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'crop-title', text: 'Crop your photo' }),
    h('div', { class: 'crop-body' },
      stage,
      h('div', { class: 'crop-side' },
        h('div', { class: 'crop-preview-wrap' }, preview, h('span', { class: 'muted small', text: 'Preview' })),
        h('label', { class: 'field-label', for: zoomId, text: 'Zoom' }),
        zoom)),
    h('div', { class: 'crop-actions' }, cancel, save));

  const g = stage.getContext('2d');
  const pg = preview.getContext('2d');
  const fit = fitIn(w, ht, STAGE_PX);

  const draw = () => {
    const r = cropRect(w, ht, crop);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, STAGE_PX, STAGE_PX);
    g.drawImage(img, fit.dx, fit.dy, w * fit.scale, ht * fit.scale);
    // Dim what is cut away, outline the square and the circle avatars show.
    const sx = fit.dx + r.x * fit.scale;
    const sy = fit.dy + r.y * fit.scale;
    const ss = r.side * fit.scale;
    g.fillStyle = 'rgba(0, 0, 0, 0.55)';
    g.beginPath();
    g.rect(0, 0, STAGE_PX, STAGE_PX);
    g.rect(sx, sy, ss, ss);
    g.fill('evenodd');
    g.strokeStyle = '#fff';
    g.lineWidth = 2;
    g.strokeRect(sx, sy, ss, ss);
    g.setLineDash([4, 4]);
    g.beginPath();
    g.arc(sx + ss / 2, sy + ss / 2, ss / 2, 0, Math.PI * 2);
    g.stroke();
    g.setLineDash([]);
    pg.clearRect(0, 0, preview.width, preview.height);
    pg.drawImage(img, r.x, r.y, r.side, r.side, 0, 0, preview.width, preview.height);
  };

  // Dragging: stage pixels (as laid out) to image pixels.
  let last = null;
  const toStage = (e) => {
    const b = stage.getBoundingClientRect();
    return { x: ((e.clientX - b.left) / b.width) * STAGE_PX, y: ((e.clientY - b.top) / b.height) * STAGE_PX };
  };
  stage.addEventListener('pointerdown', (e) => {
    last = toStage(e);
    stage.setPointerCapture(e.pointerId);
    e.preventDefault();
  });
  stage.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = toStage(e);
    crop = moveCenter(w, ht, crop, (p.x - last.x) / fit.scale, (p.y - last.y) / fit.scale);
    last = p;
    draw();
  });
  const endDrag = () => {
    last = null;
  };
  stage.addEventListener('pointerup', endDrag);
  stage.addEventListener('pointercancel', endDrag);

  const setZoom = (z) => {
    crop = moveCenter(w, ht, { ...crop, zoom: clamp(z, 1, MAX_ZOOM) }, 0, 0);
    zoom.value = String(crop.zoom);
    draw();
  };
  zoom.addEventListener('input', () => setZoom(Number(zoom.value)));
  stage.addEventListener('wheel', (e) => {
    e.preventDefault();
    setZoom(crop.zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
  }, { passive: false });
  stage.addEventListener('keydown', (e) => {
    const d = squareSide(w, ht, crop.zoom) * KEY_STEP * (e.shiftKey ? 5 : 1);
    const moves = { ArrowLeft: [-d, 0], ArrowRight: [d, 0], ArrowUp: [0, -d], ArrowDown: [0, d] };
    if (moves[e.key]) {
      e.preventDefault();
      crop = moveCenter(w, ht, crop, ...moves[e.key]);
      draw();
    } else if (e.key === '+' || e.key === '=') {
      e.preventDefault();
      setZoom(crop.zoom + 0.25);
    } else if (e.key === '-') {
      e.preventDefault();
      setZoom(crop.zoom - 0.25);
    }
  });

  return new Promise((resolve) => {
    let settled = false;
    const finish = (blob) => {
      if (settled) return;
      settled = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      URL.revokeObjectURL(url);
      if (opener?.isConnected) opener.focus({ preventScroll: true });
      resolve(blob);
    };
    cancel.addEventListener('click', () => finish(null));
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(null);
    });
    save.addEventListener('click', async () => {
      save.disabled = true;
      const r = cropRect(w, ht, crop);
      const side = outputSide(r.side);
      const out = h('canvas', { width: String(side), height: String(side) });
      const og = out.getContext('2d');
      og.imageSmoothingQuality = 'high';
      og.drawImage(img, r.x, r.y, r.side, r.side, 0, 0, side, side);
      finish(await encode(out));
    });
    document.body.append(dialog);
    dialog.showModal();
    draw();
    stage.focus();
  });
}
