// The files attached to a draft, as the post composer and the chat box
// show them: per file a preview, its name and status, an upload bar
// (which says "Waiting for network…" while offline and resumes by
// itself), a processing bar for videos, its error in words, an alt-text
// field with a counter, and buttons to move it left or right or remove it.
//
// Rows are kept per item and updated in place, so typing alt text is never
// interrupted by progress events.

import { icon } from '../icons.js';
import { h, uid } from '../ui.js';
import { formatBytes, MAX_ALT, statusOf } from './attachments.js';
import { filePreview } from './preview.js';

const STATUS_TEXT = {
  uploading: 'uploading',
  retrying: 'retrying',
  offline: 'offline',
  queued: 'queued',
  processing: 'processing',
  ready: 'ready',
  failed: 'failed',
};

function noteOf(item, status) {
  const pct = item.size ? Math.floor((item.sent / item.size) * 100) : 0;
  switch (status) {
    case 'offline':
      return `Waiting for network… ${pct}% sent; it goes on by itself.`;
    case 'retrying':
      return `Connection trouble: retrying… ${pct}% sent.`;
    case 'uploading':
      return `Uploading ${pct}% · ${formatBytes(item.sent)} of ${formatBytes(item.size)}`;
    case 'queued':
      return 'Uploaded · waiting to be processed';
    case 'processing':
      return `Uploaded · processing ${Math.round((item.media?.progress || 0) * 100)}%`;
    case 'ready':
      return 'Uploaded · ready';
    default:
      return '';
  }
}

/** One item's row: { li, update(item, index, count) }. */
function row(item, model, { compact }) {
  const preview = filePreview(item.file, item.kind);
  const altId = uid('alt');
  const status = h('span', { class: 'media-status', testid: 'media-status' });
  const upload = h('progress', { class: 'progress', testid: 'upload-progress', max: '1', value: '0', 'aria-label': `Upload of ${item.name}` });
  const processing = h('progress', { class: 'progress progress-processing', testid: 'transcode-progress', max: '1', value: '0', 'aria-label': `Processing of ${item.name}`, hidden: true });
  const note = h('p', { class: 'upload-note' });
  const error = h('p', { class: 'upload-error', role: 'alert', hidden: true });
  const alt = h('textarea', {
    id: altId,
    class: 'input alt-input',
    testid: 'alt-input',
    rows: compact ? '1' : '2',
    maxlength: String(MAX_ALT),
    placeholder: compact ? 'Alt text'
      : item.kind === 'video' ? 'Describe this video for people who cannot see it' : 'Describe this photo for people who cannot see it',
  });
  alt.value = item.alt;
  const counter = h('span', { class: 'alt-count', id: `${altId}-count` });
  alt.setAttribute('aria-describedby', counter.id);
  const count = () => {
    counter.textContent = `${alt.value.length.toLocaleString()} / ${MAX_ALT.toLocaleString()}`;
    counter.classList.toggle('near-limit', alt.value.length > MAX_ALT - 100);
  };
  alt.addEventListener('input', () => {
    model.setAlt(item.key, alt.value);
    count();
  });
  count();

  const btn = (iconName, label, testid, fn) => h('button', {
    type: 'button',
    class: 'btn btn-ghost btn-icon btn-sm',
    testid,
    'aria-label': `${label}: ${item.name}`,
    title: label,
    onclick: fn,
  }, icon(iconName));
  const left = btn('back', 'Move left', 'attachment-left', () => {
    model.move(item.key, -1);
    // The row moved; keep the focus on the button that moved it, unless it is now at the edge.
    (left.disabled ? right : left).focus();
  });
  const right = btn('forward', 'Move right', 'attachment-right', () => {
    model.move(item.key, 1);
    (right.disabled ? left : right).focus();
  });
  const remove = btn('x', 'Remove', 'attachment-remove', () => model.remove(item.key));

  const li = h('li', { class: ['upload-item', compact ? 'compact' : null], testid: 'attachment', dataset: { kind: item.kind } },
    preview.el,
    h('div', { class: 'upload-main' },
      h('div', { class: 'upload-head' },
        h('span', { class: 'upload-name', title: item.name, text: item.name }),
        h('span', { class: 'status-pill' }, status)),
      upload,
      processing,
      note,
      error,
      h('div', { class: 'alt-field' },
        h('label', { class: compact ? 'sr-only' : 'alt-label', for: altId, text: 'Alt text' }),
        alt,
        counter)),
    h('div', { class: 'upload-actions' }, left, right, remove));

  const update = (it, index, total) => {
    const st = statusOf(it);
    li.dataset.status = st;
    status.textContent = STATUS_TEXT[st] || st;
    status.dataset.status = st === 'offline' || st === 'retrying' ? 'waiting' : st;
    upload.value = it.size ? Math.min(1, it.sent / it.size) : 0;
    const showProcessing = it.kind === 'video' && (st === 'processing' || st === 'queued');
    processing.hidden = !showProcessing;
    if (showProcessing) processing.value = Math.max(0, Math.min(1, it.media?.progress || 0));
    note.textContent = noteOf(it, st);
    note.hidden = !note.textContent;
    error.hidden = !it.error;
    error.textContent = it.error || '';
    left.disabled = index === 0;
    right.disabled = index === total - 1;
  };
  return { li, update, revoke: preview.revoke };
}

/**
 * The tray of a draft's attachments (an Attachments list): { el, update() }.
 * `update()` redraws after the list changed; `dispose()` lets the previews go.
 */
export function attachmentTray(model, { compact = false, label = 'Attached files' } = {}) {
  const list = h('ul', { class: ['upload-list', compact ? 'compact' : null], testid: 'attachments', 'aria-label': label });
  /** item key -> its row */
  const rows = new Map();

  const update = () => {
    const items = model.items;
    const keep = new Set(items.map((it) => it.key));
    for (const [key, r] of rows) {
      if (!keep.has(key)) {
        r.li.remove();
        r.revoke();
        rows.delete(key);
      }
    }
    items.forEach((it, i) => {
      let r = rows.get(it.key);
      if (!r) {
        r = row(it, model, { compact });
        rows.set(it.key, r);
      }
      // Move only rows out of place: moving a row holding the focus would blur it.
      if (list.children[i] !== r.li) list.insertBefore(r.li, list.children[i] || null);
      r.update(it, i, items.length);
    });
    list.hidden = items.length === 0;
  };

  update();
  return {
    el: list,
    update,
    dispose() {
      for (const r of rows.values()) r.revoke();
      rows.clear();
    },
  };
}

/** A hidden file input for photos and videos, with its visible label-button: { input, button }. */
export function filePicker({ testid, label = 'Photo/video', iconName = 'image', compact = false, onFiles }) {
  const id = uid('files');
  const input = h('input', { id, type: 'file', accept: 'image/*,video/*', multiple: true, class: 'file-input', testid });
  const button = h('label', { for: id, class: ['btn btn-ghost btn-file', compact ? 'btn-icon' : null], title: label },
    icon(iconName),
    h('span', { class: compact ? 'sr-only' : null, text: label }));
  input.addEventListener('change', () => {
    const files = [...(input.files || [])];
    input.value = '';
    if (files.length) onFiles(files);
  });
  return { input, button };
}
