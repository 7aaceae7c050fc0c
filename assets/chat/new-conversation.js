// Starting a conversation: a dialog to pick one or more friends
// (friend-picker.js) and, for a group, a title. One friend opens the
// direct conversation with them (the server answers the existing one);
// two or more, or a title, make a new group.

import { openDirect } from '../actions.js';
import { api } from '../api.js';
import { openModal } from '../confirm.js';
import { navigate } from '../router.js';
import { formError, h, uid } from '../ui.js';
import { chat, loadConversations } from './client.js';
import { friendPicker } from './friend-picker.js';

/** The server's limit on a group's title. */
export const MAX_TITLE = 100;

export function openNewConversation() {
  const titleId = uid('new-conv-title');
  const groupTitleId = uid('new-conv-group');
  const err = formError('new-conversation-error');
  const groupTitle = h('input', { id: groupTitleId, type: 'text', class: 'input', testid: 'new-conversation-title', maxlength: String(MAX_TITLE), placeholder: 'Dinner on Friday' });
  const titleField = h('div', { class: 'field', hidden: true },
    h('label', { class: 'field-label', for: groupTitleId, text: 'Group name' }), groupTitle);
  const summary = h('p', { class: 'muted small', testid: 'new-conversation-summary', 'aria-live': 'polite', text: 'Pick one friend for a chat, or several for a group.' });
  const cancel = h('button', { type: 'button', class: 'btn btn-ghost', testid: 'new-conversation-cancel', text: 'Cancel' });
  const start = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'new-conversation-start', disabled: true, text: 'Start chat' });

  const refresh = (picked) => {
    const n = picked.size;
    titleField.hidden = n < 2;
    start.disabled = n === 0;
    start.textContent = n >= 2 ? 'Create group' : 'Start chat';
    summary.textContent = n === 0
      ? 'Pick one friend for a chat, or several for a group.'
      : n === 1 ? '1 friend picked.' : `${n} friends picked: a group.`;
  };
  const picker = friendPicker({ onChange: refresh, testid: 'new-conversation' });

  const form = h('form', { class: 'new-conversation', method: 'dialog', novalidate: true },
    h('h2', { id: titleId, class: 'confirm-title', text: 'New conversation' }),
    picker.el, titleField, summary, err.el,
    h('div', { class: 'confirm-actions' }, cancel, start));
  const dialog = h('dialog', { class: 'confirm-dialog new-conversation-dialog card', testid: 'new-conversation', 'aria-labelledby': titleId }, form);

  cancel.addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const members = [...picker.picked];
    if (!members.length) return;
    const title = groupTitle.value.trim();
    start.disabled = true;
    try {
      if (members.length === 1 && !title) {
        dialog.close();
        await openDirect(members[0]);
        return;
      }
      const res = await api.post('/api/conversations', title ? { members, title } : { members });
      const me = chat.conv(res.id);
      if (!me) chat.ensure({ id: res.id, kind: 'group', title: title || null, members: [] });
      dialog.close();
      await loadConversations().catch(() => {});
      navigate(`#/chat/${encodeURIComponent(res.id)}`);
    } catch (ex) {
      start.disabled = false;
      err.show(ex);
    }
  });

  openModal(dialog);
  picker.filter.focus();
  picker.load().catch((e) => err.show(e));
}
