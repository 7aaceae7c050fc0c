// Settings › Muted: people whose posts stay out of your feed and who
// cause you no notifications (they are not told). Unmute from here.

import { api, enc, qs } from '../api.js';
import { timeEl } from '../time.js';
import { toast } from '../toast.js';
import { avatar, emptyState, formError, h, replace, spinner } from '../ui.js';
import { card, whileBusy } from './kit.js';

export function render(el, ctx) {
  const err = formError('mutes-error');
  const list = h('ul', { class: 'people settings-people', testid: 'mute-list', 'aria-busy': 'true' }, h('li', {}, spinner('Loading…')));
  const more = h('button', { type: 'button', class: 'btn btn-ghost btn-sm', hidden: true, text: 'Show more' });
  let cursor = null;

  const empty = () => h('li', { class: 'empty-li' }, emptyState('You have not muted anyone.', 'Mute someone from the … menu on their profile: their posts leave your feed, and they are not told.'));

  const row = ({ user, since }) => {
    const unmute = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', testid: 'unmute', text: 'Unmute', 'aria-label': `Unmute ${user.username}` });
    const li = h('li', { class: 'person', testid: 'muted-user', dataset: { username: user.username } },
      avatar(user),
      h('div', { class: 'person-id' },
        h('a', { class: 'person-name', href: `#/u/${encodeURIComponent(user.username)}`, text: user.username }),
        h('span', { class: 'muted small' }, user.display_name && user.display_name !== user.username ? `${user.display_name} · ` : '', 'Muted ', since ? timeEl(since) : '')),
      h('div', { class: 'person-actions' }, unmute));
    unmute.addEventListener('click', async () => {
      err.clear();
      try {
        await whileBusy(unmute, () => api.del(`/api/users/${enc(user.username)}/mute`));
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        if (!list.children.length) list.append(empty());
        toast(`${user.username} is unmuted.`);
        (next?.querySelector('button') || list).focus();
      } catch (e) {
        err.show(e);
      }
    });
    return li;
  };

  const load = async (reset) => {
    try {
      const page = await api.get(`/api/mutes${qs({ limit: 50, cursor: reset ? null : cursor })}`);
      if (!ctx.alive) return;
      list.removeAttribute('aria-busy');
      if (reset) replace(list);
      for (const item of page.items) list.append(row(item.user ? item : { user: item, since: null }));
      if (!list.children.length) list.append(empty());
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (e) {
      if (!ctx.alive) return;
      list.removeAttribute('aria-busy');
      if (reset) replace(list);
      err.show(e);
    }
  };
  more.addEventListener('click', () => load(false));
  list.tabIndex = -1;

  el.append(card({
    title: 'Muted people',
    description: 'Their posts stay out of your feed and they cause you no notifications. They can still see your posts and are not told.',
    testid: 'settings-mutes',
  }, list, more, err.el));
  load(true);
}
