// Starting a conversation: a dialog to pick one or more friends (with a
// filter, for long lists) and, for a group, a title. One friend opens the
// direct conversation with them (the server answers the existing one);
// two or more, or a title, make a new group.

import { allPages, openDirect } from '../actions.js';
import { api } from '../api.js';
import { openModal } from '../confirm.js';
import { navigate } from '../router.js';
import { formError, h, replace, spinner, uid } from '../ui.js';
import { chat, loadConversations } from './client.js';

/** The server's limit on a group's title. */
const MAX_TITLE = 100;

export function openNewConversation() {
  const titleId = uid('new-conv-title');
  const filterId = uid('new-conv-filter');
  const groupTitleId = uid('new-conv-group');
  const err = formError('new-conversation-error');
  const filter = h('input', { id: filterId, type: 'search', class: 'input', testid: 'new-conversation-filter', placeholder: 'Search friends', autocomplete: 'off' });
  const list = h('ul', { class: 'pick-list', testid: 'new-conversation-friends', 'aria-label': 'Friends' }, h('li', {}, spinner('Loading friends…')));
  const groupTitle = h('input', { id: groupTitleId, type: 'text', class: 'input', testid: 'new-conversation-title', maxlength: String(MAX_TITLE), placeholder: 'Dinner on Friday' });
  const titleField = h('div', { class: 'field', hidden: true },
    h('label', { class: 'field-label', for: groupTitleId, text: 'Group name' }), groupTitle);
  const summary = h('p', { class: 'muted small', testid: 'new-conversation-summary', 'aria-live': 'polite', text: 'Pick one friend for a chat, or several for a group.' });
  const cancel = h('button', { type: 'button', class: 'btn btn-ghost', testid: 'new-conversation-cancel', text: 'Cancel' });
  const start = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'new-conversation-start', disabled: true, text: 'Start chat' });
  const form = h('form', { class: 'new-conversation', method: 'dialog', novalidate: true },
    h('h2', { id: titleId, class: 'confirm-title', text: 'New conversation' }),
    h('label', { class: 'sr-only', for: filterId, text: 'Search friends' }),
    filter, list, titleField, summary, err.el,
    h('div', { class: 'confirm-actions' }, cancel, start));
  const dialog = h('dialog', { class: 'confirm-dialog new-conversation-dialog card', testid: 'new-conversation', 'aria-labelledby': titleId }, form);

  const picked = new Set();
  let friends = [];

  const refresh = () => {
    const n = picked.size;
    titleField.hidden = n < 2;
    start.disabled = n === 0;
    start.textContent = n >= 2 ? 'Create group' : 'Start chat';
    summary.textContent = n === 0
      ? 'Pick one friend for a chat, or several for a group.'
      : n === 1 ? '1 friend picked.' : `${n} friends picked: a group.`;
  };

  const renderList = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = friends.filter((u) => !q || u.username.toLowerCase().includes(q) || (u.display_name || '').toLowerCase().includes(q));
    if (!friends.length) {
      replace(list, h('li', { class: 'muted', text: 'No friends yet: add some on the Friends page first.' }));
      return;
    }
    if (!shown.length) {
      replace(list, h('li', { class: 'muted', text: 'No friend matches.' }));
      return;
    }
    replace(list, shown.map((u) => {
      const id = uid('pick');
      const box = h('input', { id, type: 'checkbox', checked: picked.has(u.username), dataset: { username: u.username } });
      box.addEventListener('change', () => {
        if (box.checked) picked.add(u.username);
        else picked.delete(u.username);
        refresh();
      });
      return h('li', { class: 'pick', testid: 'new-conversation-friend', dataset: { username: u.username } },
        box,
        h('label', { for: id },
          h('span', { class: 'pick-name', text: u.display_name || u.username }),
          u.display_name && u.display_name !== u.username ? h('span', { class: 'muted small', text: ` @${u.username}` }) : null));
    }));
  };

  filter.addEventListener('input', renderList);
  cancel.addEventListener('click', () => dialog.close());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const members = [...picked];
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
  filter.focus();
  allPages('/api/friends').then((items) => {
    friends = items.map((f) => f.user).sort((a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username));
    renderList();
  }, (e) => {
    replace(list);
    err.show(e);
  });
}
