// A thread's header: back to the list (narrow screens), the picture and
// title, muted, presence ("Online", "4 members · 2 online") and the
// button to the conversation's details (chat/group-panel.js).

import { chat } from '../chat/client.js';
import { openConversationPanel } from '../chat/group-panel.js';
import { icon } from '../icons.js';
import { setTitle } from '../router.js';
import { isOnline, state } from '../store.js';
import { avatar, h, replace } from '../ui.js';

/** Any other member online? */
export function convOnline(c) {
  return chat.others(c).some((m) => isOnline(m.username));
}

/** The header of conversation `id`: { el, render() }. */
export function threadHead(id) {
  const c0 = chat.conv(id);
  const titleEl = h('h2', { class: 'chat-title', testid: 'chat-title', text: c0 ? chat.title(c0) : 'Conversation' });
  const mutedMark = h('span', { class: 'muted-mark', testid: 'chat-muted', title: 'Muted', hidden: true }, icon('mute'), h('span', { class: 'sr-only', text: 'Muted' }));
  const presenceDot = h('span', { class: 'presence-dot', testid: 'chat-presence', dataset: { online: 'false' } });
  const presenceText = h('span', { class: 'muted small' });
  const headAvatar = h('span', { class: 'avatar-wrap' });
  const back = h('a', { class: 'btn btn-ghost btn-icon back-link', href: '#/chat', 'aria-label': 'Back to conversations' }, icon('back'));
  const infoBtn = h('button', { type: 'button', class: 'btn btn-ghost btn-icon thread-info', testid: 'chat-info', 'aria-label': 'Conversation details' }, icon('more'));
  infoBtn.addEventListener('click', () => openConversationPanel(id));
  const el = h('header', { class: 'thread-head' },
    back, headAvatar,
    h('div', { class: 'thread-id' }, h('div', { class: 'thread-title-line' }, titleEl, mutedMark), h('div', { class: 'thread-presence' }, presenceDot, presenceText)),
    infoBtn);

  const render = () => {
    const c = chat.conv(id);
    if (!c) return;
    const t = chat.title(c);
    titleEl.textContent = t;
    setTitle(t);
    mutedMark.hidden = !c.muted;
    const others = chat.others(c);
    const online = convOnline(c);
    presenceDot.dataset.online = String(online);
    if (c.kind === 'group') {
      const n = others.filter((m) => isOnline(m.username)).length;
      const count = others.length + (c.left ? 0 : 1);
      presenceText.textContent = `${count} ${count === 1 ? 'member' : 'members'}${n ? ` · ${n} online` : ''}`;
      infoBtn.setAttribute('aria-label', 'Group details');
    } else {
      presenceText.textContent = online ? 'Online' : 'Offline';
      infoBtn.setAttribute('aria-label', 'Conversation details');
    }
    const who = c.kind === 'group' ? { username: t, display_name: t } : (others[0] || state.me);
    if (headAvatar.dataset.who !== who.username) {
      headAvatar.dataset.who = who.username;
      replace(headAvatar, avatar(who));
    }
  };

  return { el, render };
}
