// A conversation's details, from its thread's header: for a group its
// name (renamed by its owner and admins), its members with their roles
// (added from our friends and removed by the owner and admins; made admin
// or member again by the owner), leaving it; for any conversation, muting
// it. A modal dialog that follows the group live: every change comes back
// as an event (machine.js) and is drawn again here.

import { bus } from '../bus.js';
import { confirmAction, openModal } from '../confirm.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { moreMenu } from '../menu.js';
import { isMe, state } from '../store.js';
import { profileHref } from '../text.js';
import { toast } from '../toast.js';
import { avatar, formError, h, replace, uid } from '../ui.js';
import { addMembers, chat, loadConversation, removeMember, renameGroup, setMuted, setRole } from './client.js';
import { friendPicker } from './friend-picker.js';
import { powers, roleOf } from './members.js';
import { MAX_TITLE } from './new-conversation.js';

const ROLE_LABEL = { owner: 'Owner', admin: 'Admin' };

/** Opens the details of conversation `id`. */
export function openConversationPanel(id) {
  const titleId = uid('conv-panel-title');
  const err = formError('conversation-panel-error');
  const heading = h('h2', { id: titleId, class: 'confirm-title conv-panel-title', testid: 'conversation-panel-title' });
  const subtitle = h('p', { class: 'muted small conv-panel-subtitle' });
  const headAvatar = h('span', { class: 'avatar-wrap' });
  const close = h('button', { type: 'button', class: 'btn btn-ghost btn-icon', testid: 'conversation-panel-close', 'aria-label': 'Close' }, icon('x'));
  const dialog = h('dialog', { class: 'confirm-dialog conv-panel card', testid: 'conversation-panel', 'aria-labelledby': titleId });

  // ---- the name ----
  const nameId = uid('group-name');
  const nameInput = h('input', { id: nameId, type: 'text', class: 'input', testid: 'group-name', maxlength: String(MAX_TITLE), autocomplete: 'off' });
  const nameSave = h('button', { type: 'submit', class: 'btn btn-secondary btn-sm', testid: 'group-rename', text: 'Rename' });
  const renameForm = h('form', { class: 'conv-panel-rename', novalidate: true },
    h('label', { class: 'field-label', for: nameId, text: 'Group name' }),
    h('div', { class: 'conv-panel-row' }, nameInput, nameSave));
  let nameDirty = false;
  nameInput.addEventListener('input', () => {
    nameDirty = true;
  });
  renameForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    const title = nameInput.value.trim();
    if (!title) {
      err.show('A group needs a name.');
      return;
    }
    nameSave.disabled = true;
    try {
      await renameGroup(id, title);
      nameDirty = false;
      toast('Group renamed.');
    } catch (ex) {
      err.show(ex);
    } finally {
      nameSave.disabled = false;
    }
  });

  // ---- mute ----
  const muteId = uid('mute');
  const mute = h('input', { id: muteId, type: 'checkbox', role: 'switch', testid: 'conversation-mute' });
  const muteRow = h('div', { class: 'conv-panel-mute' },
    mute,
    h('label', { for: muteId },
      h('span', { class: 'pick-name', text: 'Mute notifications' }),
      h('span', { class: 'muted small', text: 'No notifications from this conversation. Its unread count stays, quieter.' })));
  mute.addEventListener('change', async () => {
    err.clear();
    mute.disabled = true;
    try {
      await setMuted(id, mute.checked);
    } catch (ex) {
      mute.checked = !mute.checked;
      err.show(ex);
    } finally {
      mute.disabled = false;
    }
  });

  // ---- members ----
  const membersTitle = h('h3', { class: 'conv-panel-section' });
  const addOpen = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', testid: 'group-add-open' }, icon('plus'), h('span', { text: 'Add members' }));
  const addSlot = h('div', { class: 'conv-panel-add' });
  const memberList = h('ul', { class: 'conv-members', testid: 'group-members' });
  const profileLink = h('a', { class: 'btn btn-secondary btn-sm', testid: 'conversation-profile', text: 'View profile' });
  profileLink.addEventListener('click', () => dialog.close());
  const leftNote = h('p', { class: 'thread-left', testid: 'conversation-panel-left', text: "You're no longer a member of this group" });
  const leave = h('button', { type: 'button', class: 'btn btn-danger btn-sm', testid: 'group-leave', text: 'Leave group' });
  // Kept from one drawing to the next, so the focus stays where it is.
  const profileRow = h('div', { class: 'conv-panel-row' }, profileLink);
  const membersHead = h('div', { class: 'conv-panel-members-head' }, membersTitle, addOpen);
  const leaveRow = h('div', { class: 'conv-panel-leave' }, leave);

  let adding = null;
  const closeAdding = () => {
    adding = null;
    replace(addSlot);
    addOpen.hidden = !powers(chat.conv(id) || {}, state.me?.username).manages;
  };
  addOpen.addEventListener('click', () => {
    const c = chat.conv(id);
    if (!c) return;
    const add = h('button', { type: 'button', class: 'btn btn-primary btn-sm', testid: 'group-add', disabled: true, text: 'Add' });
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', text: 'Cancel', onclick: () => {
      closeAdding();
      addOpen.focus();
    } });
    const picker = friendPicker({
      exclude: new Set(c.members.map((m) => m.username)),
      testid: 'group-add',
      label: 'Friends to add',
      onChange: (picked) => {
        add.disabled = picked.size === 0;
      },
    });
    add.addEventListener('click', async () => {
      err.clear();
      add.disabled = true;
      try {
        const added = await addMembers(id, [...picker.picked]);
        closeAdding();
        addOpen.focus();
        if (added.length) toast(`Added ${added.map(picker.nameOf).join(', ')}.`);
      } catch (ex) {
        add.disabled = false;
        err.show(ex);
      }
    });
    adding = picker;
    addOpen.hidden = true;
    replace(addSlot, h('div', { class: 'conv-panel-adding' },
      h('p', { class: 'small muted', text: 'Pick friends to add. They will read the conversation from now on.' }),
      picker.el, h('div', { class: 'conv-panel-row conv-panel-end' }, cancel, add)));
    picker.filter.focus();
    picker.load().catch((ex) => err.show(ex));
  });

  leave.addEventListener('click', async () => {
    const sure = await confirmAction({
      title: 'Leave this group?',
      body: 'You keep the messages up to now but get no new ones; someone in the group would have to add you back.',
      confirmLabel: 'Leave group',
    });
    if (!sure) return;
    err.clear();
    leave.disabled = true;
    try {
      await removeMember(id, state.me.username);
      toast('You left the group.');
    } catch (ex) {
      err.show(ex);
    } finally {
      leave.disabled = false;
    }
  });

  const memberActions = (c, m, may) => {
    const name = m.display_name || m.username;
    const role = roleOf(c, m.username);
    const items = [
      may.owner && role === 'member' && { label: 'Make admin', testid: 'member-make-admin', onSelect: () => act(() => setRole(id, m.username, 'admin')) },
      may.owner && role === 'admin' && { label: 'Remove as admin', testid: 'member-remove-admin', onSelect: () => act(() => setRole(id, m.username, 'member')) },
      may.canRemove(m.username) && {
        label: 'Remove from group',
        testid: 'member-remove',
        danger: true,
        onSelect: async (opener) => {
          opener.focus();
          const sure = await confirmAction({
            title: `Remove ${name} from the group?`,
            body: 'They keep the messages up to now but get no new ones.',
            confirmLabel: 'Remove',
          });
          if (sure) act(() => removeMember(id, m.username));
        },
      },
    ].filter(Boolean);
    return items.length ? moreMenu(items, { label: `Actions for ${name}`, testid: 'member-menu' }) : null;
  };

  const act = async (fn) => {
    err.clear();
    try {
      await fn();
    } catch (ex) {
      err.show(ex);
    }
  };

  const renderMembers = (c, may) => {
    // Drawn again on each change: the focus goes back where it was.
    const focused = memberList.contains(document.activeElement)
      ? document.activeElement.closest('[data-username]')?.dataset.username
      : null;
    const me = state.me?.username;
    const members = [...c.members];
    if (!c.left && me && !members.some((m) => isMe(m.username))) members.push(state.me);
    const order = { owner: 0, admin: 1, member: 2 };
    members.sort((a, b) => order[roleOf(c, a.username)] - order[roleOf(c, b.username)]
      || (a.display_name || a.username).localeCompare(b.display_name || b.username));
    membersTitle.textContent = `${members.length} ${members.length === 1 ? 'member' : 'members'}`;
    replace(memberList, members.map((m) => {
      const role = roleOf(c, m.username);
      const you = isMe(m.username);
      return h('li', { class: 'conv-member', testid: 'group-member', dataset: { username: m.username, role } },
        avatar(m, 'sm'),
        h('span', { class: 'conv-member-name' },
          h('span', { class: 'pick-name', text: `${m.display_name || m.username}${you ? ' (you)' : ''}` }),
          h('span', { class: 'muted small', text: `@${m.username}` })),
        ROLE_LABEL[role] ? h('span', { class: ['role-badge', `role-${role}`], testid: 'member-role', text: ROLE_LABEL[role] }) : null,
        you ? null : memberActions(c, m, may));
    }));
    if (focused) {
      const row = memberList.querySelector(`[data-username="${CSS.escape(focused)}"] button`);
      (row || dialog).focus();
    }
  };

  const body = h('div', { class: 'conv-panel-body' });
  const render = () => {
    const c = chat.conv(id);
    if (!c) {
      dialog.close();
      return;
    }
    const group = c.kind === 'group';
    const may = powers(c, state.me?.username);
    const t = chat.title(c);
    heading.textContent = t;
    const other = chat.others(c)[0];
    const who = group ? { username: `g:${t}`, display_name: t } : (other || state.me);
    if (headAvatar.dataset.who !== who.username) {
      headAvatar.dataset.who = who.username;
      replace(headAvatar, avatar(who));
    }
    if (group) {
      subtitle.textContent = c.left ? 'Group · you left' : `Group · ${c.members.length} ${c.members.length === 1 ? 'member' : 'members'}`;
    } else {
      subtitle.textContent = other ? `Chat with @${other.username}` : 'Chat';
    }
    if (!nameDirty && document.activeElement !== nameInput) nameInput.value = c.title || '';
    mute.checked = !!c.muted;

    const parts = [];
    if (group && may.manages) parts.push(renameForm);
    if (!group && other) {
      profileLink.href = profileHref(other.username);
      parts.push(profileRow);
    }
    if (!c.left) parts.push(muteRow);
    if (group) {
      if (c.left) parts.push(leftNote);
      addOpen.hidden = !may.manages || !!adding;
      parts.push(membersHead);
      if (may.manages) parts.push(addSlot);
      parts.push(memberList);
      renderMembers(c, may);
      if (!c.left) parts.push(leaveRow);
    }
    if (!may.manages && adding) closeAdding();
    const keep = [...body.children];
    if (keep.length !== parts.length || keep.some((el, i) => el !== parts[i])) replace(body, parts);
  };

  dialog.append(
    h('div', { class: 'conv-panel-head' }, headAvatar, h('div', { class: 'conv-panel-names' }, heading, subtitle), close),
    err.el,
    body,
  );
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (e) => {
    if (e.target === dialog) dialog.close();
  });
  const off = bus.on(EVENTS.CHAT_CONVERSATIONS, (d) => {
    if (!d?.conversation_id || d.conversation_id === id) render();
  });
  openModal(dialog, off);
  render();
  close.focus();
  // Names, pictures and roles as the server has them now.
  loadConversation(id).catch(() => {});
}
