// Picking friends from a list with checkboxes and a filter (for long
// lists): starting a conversation (new-conversation.js) and adding members
// to a group (group-panel.js).

import { allPages } from '../actions.js';
import { h, replace, spinner, uid } from '../ui.js';

/**
 * A filter and a list of the signed-in user's friends, each with a
 * checkbox. `exclude`: usernames not offered (a group's members);
 * `onChange(picked)` whenever the choice changes; `testid`: the prefix of
 * the parts' test ids (`<testid>-filter`, `<testid>-friends`,
 * `<testid>-friend`). Returns { el, filter, picked, load, nameOf }:
 * `load()` fetches the friends (and rejects when that fails); `nameOf`
 * gives a friend's display name.
 */
export function friendPicker({ exclude = new Set(), onChange = () => {}, testid = 'friend-picker', label = 'Friends' } = {}) {
  const filterId = uid('pick-filter');
  const filter = h('input', { id: filterId, type: 'search', class: 'input', testid: `${testid}-filter`, placeholder: 'Search friends', autocomplete: 'off' });
  const list = h('ul', { class: 'pick-list', testid: `${testid}-friends`, 'aria-label': label }, h('li', {}, spinner('Loading friends…')));
  const el = h('div', { class: 'friend-picker' }, h('label', { class: 'sr-only', for: filterId, text: 'Search friends' }), filter, list);
  const picked = new Set();
  let friends = [];
  let loaded = false;

  const render = () => {
    if (!loaded) return;
    const q = filter.value.trim().toLowerCase();
    const offered = friends.filter((u) => !exclude.has(u.username));
    const shown = offered.filter((u) => !q || u.username.toLowerCase().includes(q) || (u.display_name || '').toLowerCase().includes(q));
    if (!offered.length) {
      replace(list, h('li', { class: 'muted', text: friends.length ? 'All your friends are here already.' : 'No friends yet: add some on the Friends page first.' }));
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
        onChange(picked);
      });
      return h('li', { class: 'pick', testid: `${testid}-friend`, dataset: { username: u.username } },
        box,
        h('label', { for: id },
          h('span', { class: 'pick-name', text: u.display_name || u.username }),
          u.display_name && u.display_name !== u.username ? h('span', { class: 'muted small', text: ` @${u.username}` }) : null));
    }));
  };
  filter.addEventListener('input', render);

  const load = async () => {
    try {
      const items = await allPages('/api/friends');
      friends = items.map((f) => f.user).filter(Boolean)
        .sort((a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username));
      loaded = true;
      render();
    } catch (e) {
      replace(list);
      throw e;
    }
  };

  const nameOf = (username) => friends.find((u) => u.username === username)?.display_name || username;

  return { el, filter, picked, load, nameOf };
}
