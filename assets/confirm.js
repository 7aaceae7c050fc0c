// Asking before anything that cannot be taken back, one way everywhere:
// a modal dialog whose safe answer (Cancel) has the focus, so Enter or
// Escape never destroys anything by accident. Deleting a post, a comment,
// a friendship, a block and the account all go through confirmAction().

import { h, uid } from './ui.js';

/**
 * Shows `dialog` as a modal; when it closes it is removed, focus returns
 * to whatever had it before, and `onClose` runs.
 */
export function openModal(dialog, onClose = () => {}) {
  const opener = document.activeElement;
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener?.isConnected && typeof opener.focus === 'function') opener.focus();
    onClose();
  });
  document.body.append(dialog);
  dialog.showModal();
}

/**
 * Asks `title` (with `body` explaining what is lost); resolves true only
 * when the person presses `confirmLabel`. Focus returns to whatever had it.
 */
export function confirmAction({ title, body = '', confirmLabel = 'Delete', danger = true }) {
  return new Promise((resolve) => {
    const titleId = uid('confirm-title');
    const bodyId = uid('confirm-body');
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', testid: 'confirm-cancel', text: 'Cancel' });
    const ok = h('button', {
      type: 'button',
      class: ['btn', danger ? 'btn-danger' : 'btn-primary'],
      testid: 'confirm-ok',
      text: confirmLabel,
    });
    const dialog = h('dialog', {
      class: 'confirm-dialog card',
      testid: 'confirm-dialog',
      'aria-labelledby': titleId,
      'aria-describedby': body ? bodyId : null,
    },
    h('h2', { class: 'confirm-title', id: titleId, text: title }),
    body ? h('p', { class: 'confirm-body', id: bodyId, text: body }) : null,
    h('div', { class: 'confirm-actions' }, cancel, ok));
    let answer = false;
    const finish = (yes) => {
      answer = yes;
      if (dialog.open) dialog.close();
    };
    cancel.addEventListener('click', () => finish(false));
    ok.addEventListener('click', () => finish(true));
    // Escape fires `cancel` and then `close`; a click on the backdrop is a no.
    dialog.addEventListener('click', (e) => {
      if (e.target === dialog) finish(false);
    });
    openModal(dialog, () => resolve(answer));
    cancel.focus();
  });
}
