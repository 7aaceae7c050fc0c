// Reporting something to the server's admins: a dialog with the reason
// (spam, harassment, hate, violence, illegal, other) and an optional
// note, for a post, a comment, a user or a chat message
// (POST /api/reports). The reporter hears back in their notifications.

import { api } from './api.js';
import { toast } from './toast.js';
import { formError, h, uid } from './ui.js';

export const REASONS = [
  { key: 'spam', label: 'Spam', detail: 'Ads, scams, or the same thing over and over' },
  { key: 'harassment', label: 'Harassment or bullying', detail: 'Targets, threatens or shames someone' },
  { key: 'hate', label: 'Hate', detail: 'Attacks people for who they are' },
  { key: 'violence', label: 'Violence', detail: 'Threats, or glorifying violence or self-harm' },
  { key: 'illegal', label: 'Something illegal', detail: 'Breaks the law' },
  { key: 'other', label: 'Something else', detail: 'Tell the admins in the note' },
];

const NOUN = { post: 'post', comment: 'comment', message: 'message', user: 'account' };
const NOTE_MAX = 1000;

/** What a failed report tells the reader. */
export function reportError(e) {
  if (e?.status === 429) return 'You’ve sent a lot of reports; try again later.';
  if (e?.status === 404) return 'This is no longer there to report.';
  return e?.message || 'The report could not be sent.';
}

/**
 * Opens the report dialog for `kind` ('post' | 'comment' | 'message' |
 * 'user') with `id`; `about` names it ("alice's post"). Resolves true
 * once sent, false when cancelled. Focus returns to `opener`.
 */
export function openReport({ kind, id, about, opener }) {
  return new Promise((resolve) => {
    const titleId = uid('report-title');
    const noteId = uid('report-note');
    const err = formError('report-error');
    const radios = REASONS.map((r) => {
      const rid = uid('reason');
      return h('label', { class: 'reason', for: rid },
        h('input', { type: 'radio', name: 'reason', id: rid, value: r.key, testid: `report-reason-${r.key}` }),
        h('span', { class: 'reason-text' },
          h('span', { class: 'reason-label', text: r.label }),
          h('span', { class: 'reason-detail', text: r.detail })));
    });
    const note = h('textarea', { id: noteId, class: 'input', testid: 'report-note', rows: '3', maxlength: String(NOTE_MAX), placeholder: 'Anything the admins should know (optional)' });
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', testid: 'report-cancel', text: 'Cancel' });
    const send = h('button', { type: 'submit', class: 'btn btn-danger', testid: 'report-submit', text: 'Send report' });
    const form = h('form', { class: 'report-form', method: 'dialog', novalidate: true },
      h('h2', { id: titleId, class: 'report-title', text: `Report ${NOUN[kind] || 'this'}` }),
      h('p', { class: 'muted small', text: `${about ? `${about}: ` : ''}the admins of this server see your report and who sent it; the person reported does not.` }),
      h('fieldset', { class: 'reasons' }, h('legend', { class: 'field-label', text: 'What is wrong with it?' }), radios),
      h('div', { class: 'field' }, h('label', { for: noteId, text: 'Note' }), note),
      err.el,
      h('div', { class: 'report-actions' }, cancel, send));
    const dialog = h('dialog', { class: 'report-dialog card', testid: 'report-dialog', 'aria-labelledby': titleId }, form);

    let done = false;
    const finish = (sent) => {
      if (done) return;
      done = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      if (opener?.isConnected) opener.focus({ preventScroll: true });
      resolve(sent);
    };
    cancel.addEventListener('click', () => finish(false));
    // Choosing a reason answers "choose what is wrong".
    form.addEventListener('change', (e) => {
      if (e.target.name === 'reason') err.clear();
    });
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(false);
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.clear();
      const reason = form.querySelector('input[name="reason"]:checked')?.value;
      if (!reason) {
        err.show('Choose what is wrong with it.');
        radios[0].querySelector('input').focus();
        return;
      }
      send.disabled = true;
      send.setAttribute('aria-busy', 'true');
      try {
        const body = { kind, id, reason };
        if (note.value.trim()) body.note = note.value.trim();
        await api.post('/api/reports', body);
        finish(true);
        toast('Thanks. Your report was sent to the admins.');
      } catch (ex) {
        err.show(reportError(ex));
        send.disabled = false;
        send.removeAttribute('aria-busy');
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    radios[0].querySelector('input').focus();
  });
}
