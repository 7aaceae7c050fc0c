// Editing a post or comment in place, and what an edit leaves: an "Edited"
// label (its time in the tooltip) that opens the earlier versions, newest
// first (GET /api/posts/{id}/history, /api/comments/{id}/history).

import { api, enc } from '../api.js';
import { openModal } from '../confirm.js';
import { attachMentions } from '../mention-complete.js';
import { richText } from '../text.js';
import { formError, h, replace, spinner, uid } from '../ui.js';
import { chars, lengthCount, tooLong } from './length-count.js';

/** The API's collection for each kind. */
const PATHS = { post: 'posts', comment: 'comments' };

/** A time as a reader wants it in a list of versions: "5 Dec 2026, 15:52". */
export function longTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

function timeTag(iso) {
  return h('time', { class: 'history-time', datetime: iso, text: longTime(iso) });
}

/**
 * The editor shown in place of a post's or comment's text: the text in a
 * field with the same length count as where it was written, Save and
 * Cancel. `save(body)` sends it (its error shows in the editor); `cancel()`
 * puts the text back. Escape cancels, Ctrl+Enter saves. `emptyOk`: a post
 * with photos may lose all its text.
 * Returns { el, focus() }.
 */
export function editor({ kind, body, max, emptyOk = false, people, save, cancel }) {
  const id = uid(`edit-${kind}`);
  const field = h('textarea', {
    id,
    class: 'input edit-input',
    testid: `${kind}-edit-input`,
    rows: kind === 'post' ? '4' : '2',
  });
  field.value = body;
  const err = formError(`${kind}-edit-error`);
  const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary btn-sm', testid: `${kind}-edit-save`, text: 'Save' });
  const cancelBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', testid: `${kind}-edit-cancel`, text: 'Cancel' });
  let busy = false;
  let count = null;
  const refresh = () => {
    saveBtn.disabled = busy || !!count?.over();
  };
  count = lengthCount(field, max, { onChange: refresh });
  const form = h('form', { class: ['item-editor', `${kind}-editor`], testid: `${kind}-editor`, novalidate: true },
    h('label', { class: 'sr-only', for: id, text: `Edit your ${kind}` }),
    field,
    err.el,
    h('div', { class: 'item-editor-bar' }, count.el, h('span', { class: 'spacer' }), cancelBtn, saveBtn));
  const mentions = people ? attachMentions(field, { candidates: people }) : null;
  const done = () => mentions?.detach();

  cancelBtn.addEventListener('click', () => {
    done();
    cancel();
  });
  field.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      done();
      cancel();
    } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    if (saveBtn.disabled) return;
    const text = field.value;
    if (count.over()) {
      err.show(tooLong(kind, chars(text), max));
      return;
    }
    if (!text.trim() && !emptyOk) {
      err.show(kind === 'post' ? 'Write something, or delete the post.' : 'Write something, or delete the comment.');
      field.focus();
      return;
    }
    if (text === body) {
      done();
      cancel();
      return;
    }
    busy = true;
    refresh();
    saveBtn.setAttribute('aria-busy', 'true');
    try {
      await save(text);
      done();
    } catch (ex) {
      err.show(ex);
      busy = false;
      refresh();
      saveBtn.removeAttribute('aria-busy');
      field.focus();
    }
  });
  refresh();
  return {
    el: form,
    focus() {
      field.focus();
      // The caret at the end, where an edit usually goes.
      field.setSelectionRange(field.value.length, field.value.length);
    },
  };
}

/**
 * Sends an edit: PATCH /api/{posts|comments}/{id} with the new body;
 * answers the updated PostView or CommentView.
 */
export async function sendEdit(kind, id, body) {
  const res = await api.patch(`/api/${PATHS[kind]}/${enc(id)}`, { body });
  // The view itself, or wrapped as creating answers ({ post }, { comment }).
  return res?.[kind] || res;
}

/**
 * The "Edited" label of an edited `item` (a PostView or CommentView), or
 * null when it was never edited. It opens the edit history.
 */
export function editedLabel(kind, item) {
  if (!item.edited_at) return null;
  const when = longTime(item.edited_at);
  const b = h('button', {
    type: 'button',
    class: 'edited-label',
    testid: `${kind}-edited`,
    title: when ? `Edited ${when}` : 'Edited',
    'aria-haspopup': 'dialog',
  }, h('span', { text: 'Edited' }), h('span', { class: 'sr-only', text: `${when ? ` ${when}` : ''}, show earlier versions` }));
  b.addEventListener('click', () => openHistory(kind, item));
  return b;
}

/**
 * The edit history of `item`: its text now, then each earlier version
 * with when it was written, newest first; the last is the original.
 */
export function openHistory(kind, item) {
  const titleId = uid('history-title');
  const list = h('ol', { class: 'history-list', testid: 'history-list', 'aria-labelledby': titleId });
  const status = h('div', { class: 'history-status' }, spinner('Loading earlier versions…'));
  const close = h('button', { type: 'button', class: 'btn btn-secondary', testid: 'history-close', text: 'Close' });
  const dialog = h('dialog', { class: 'history-dialog card', testid: 'history-dialog', 'aria-labelledby': titleId },
    h('div', { class: 'history-head' },
      h('h2', { class: 'history-title', id: titleId, text: 'Edit history' }),
      h('p', { class: 'muted small', text: `Earlier versions of this ${kind}, newest first. Everyone who can see the ${kind} can see them.` })),
    list,
    status,
    h('div', { class: 'history-actions' }, close));
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });

  const entry = (label, iso, body, testid) => h('li', { class: 'history-entry', testid },
    h('p', { class: 'history-when' }, h('strong', { text: label }), iso ? [' ', timeTag(iso)] : null),
    body
      ? h('p', { class: 'history-body' }, richText(body, { mentions: item.mentions }))
      : h('p', { class: 'history-body muted', text: 'No text.' }));

  list.append(entry('Current version', item.edited_at, item.body, 'history-current'));
  openModal(dialog);
  close.focus();

  (async () => {
    try {
      const res = await api.get(`/api/${PATHS[kind]}/${enc(item.id)}/history`);
      if (!dialog.isConnected) return;
      const items = Array.isArray(res?.items) ? res.items : [];
      items.forEach((v, i) => {
        const original = i === items.length - 1;
        list.append(entry(original ? 'Original' : 'Edited', v.created_at, v.body, 'history-version'));
      });
      replace(status, items.length ? null : h('p', { class: 'muted', text: 'No earlier versions.' }));
    } catch (e) {
      if (!dialog.isConnected) return;
      const err = formError('history-error');
      err.show(e);
      replace(status, err.el);
    }
  })();
}
