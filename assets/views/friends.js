// Friends: find people, answer requests, see who is online.

import { openDirect } from '../actions.js';
import { api, enc, qs } from '../api.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { setTitle } from '../router.js';
import { isMe, isOnline, setPresence } from '../store.js';
import { toast } from '../toast.js';
import { actionButton, avatar, debounce, emptyState, formError, h, replace, spinner, uid } from '../ui.js';

/** Search runs this long after the last keystroke. */
const SEARCH_DELAY_MS = 250;

async function all(path, params = {}) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < 10; i += 1) {
    const page = await api.get(`${path}${qs({ ...params, limit: 100, cursor })}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

function person(user, extra) {
  return [
    avatar(user),
    h('div', { class: 'person-id' },
      h('a', { class: 'person-name', href: `#/u/${encodeURIComponent(user.username)}`, text: user.username }),
      user.display_name && user.display_name !== user.username ? h('span', { class: 'display-name', text: user.display_name }) : null,
      extra || null),
  ];
}

function presenceDot(username) {
  const online = isOnline(username);
  return h('span', {
    class: 'presence-dot',
    testid: 'presence-dot',
    dataset: { online: String(online) },
    title: online ? 'Online' : 'Offline',
  }, h('span', { class: 'sr-only', text: online ? 'online' : 'offline' }));
}

export function mount(root, _params, ctx) {
  setTitle('Friends');
  const rel = { friends: new Set(), incoming: new Set(), outgoing: new Set() };

  // ---- search ----
  const err = formError();
  const searchId = uid('search');
  const search = h('input', {
    id: searchId,
    type: 'search',
    class: 'input',
    testid: 'people-search',
    placeholder: 'Search by name',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
  });
  const results = h('ul', { class: 'people', testid: 'search-results', 'aria-live': 'polite' });
  const searchForm = h('form', { class: 'search-form', role: 'search', novalidate: true },
    h('label', { for: searchId, class: 'field-label', text: 'Find people' }),
    h('div', { class: 'search-box' }, icon('search', 'icon search-icon'), search));

  // ---- lists ----
  const incomingList = h('ul', { class: 'people', testid: 'incoming-requests' });
  const outgoingList = h('ul', { class: 'people', testid: 'outgoing-requests' });
  const friendList = h('ul', { class: 'people', testid: 'friend-list' });
  const incomingSection = h('section', { class: 'card section', hidden: true, 'aria-labelledby': 'incoming-h' },
    h('h2', { id: 'incoming-h', class: 'section-title', text: 'Friend requests' }), incomingList);
  const outgoingSection = h('section', { class: 'card section', hidden: true, 'aria-labelledby': 'outgoing-h' },
    h('h2', { id: 'outgoing-h', class: 'section-title', text: 'Sent requests' }), outgoingList);
  const friendCount = h('span', { class: 'section-count' });
  const friendSection = h('section', { class: 'card section', 'aria-labelledby': 'friends-h' },
    h('h2', { id: 'friends-h', class: 'section-title' }, 'Your friends ', friendCount), friendList);
  replace(friendList, spinner('Loading friends…'));

  const button = (label, cls, testid, fn) => actionButton(err, label, `btn-sm ${cls}`, testid, fn);

  const renderIncoming = (items) => {
    rel.incoming = new Set(items.map((r) => r.user.username));
    incomingSection.hidden = items.length === 0;
    replace(incomingList, items.map((r) => h('li', { class: 'person', testid: 'incoming-request', dataset: { username: r.user.username, requestId: r.id } },
      person(r.user, h('span', { class: 'muted small', text: 'wants to be friends' })),
      h('div', { class: 'person-actions' },
        button('Accept', 'btn-primary', 'accept-request', async () => {
          await api.post(`/api/friends/requests/${enc(r.id)}/accept`);
          toast(`You and ${r.user.username} are now friends.`);
          bus.emit(EVENTS.FRIENDSHIP_NEW);
          await reloadAll();
        }),
        button('Decline', 'btn-ghost', 'decline-request', async () => {
          await api.post(`/api/friends/requests/${enc(r.id)}/decline`);
          await reloadAll();
        })))));
  };

  const renderOutgoing = (items) => {
    rel.outgoing = new Set(items.map((r) => r.user.username));
    outgoingSection.hidden = items.length === 0;
    replace(outgoingList, items.map((r) => h('li', { class: 'person', testid: 'outgoing-request', dataset: { username: r.user.username, requestId: r.id } },
      person(r.user, h('span', { class: 'muted small', text: 'request sent' })),
      h('div', { class: 'person-actions' },
        button('Cancel', 'btn-ghost', 'cancel-request', async () => {
          await api.del(`/api/friends/requests/${enc(r.id)}`);
          await reloadAll();
        })))));
  };

  const renderFriends = (items) => {
    rel.friends = new Set(items.map((f) => f.user.username));
    friendCount.textContent = items.length ? `(${items.length})` : '';
    if (!items.length) {
      replace(friendList, h('li', { class: 'empty-li' }, emptyState('No friends yet.', 'Search for people above and send them a request.')));
      return;
    }
    const sorted = [...items].sort((a, b) => (Number(isOnline(b.user.username)) - Number(isOnline(a.user.username)))
      || a.user.username.localeCompare(b.user.username));
    replace(friendList, sorted.map((f) => {
      const u = f.user;
      return h('li', { class: 'person', testid: 'friend', dataset: { username: u.username } },
        h('div', { class: 'avatar-wrap' }, avatar(u), presenceDot(u.username)),
        h('div', { class: 'person-id' },
          h('a', { class: 'person-name', href: `#/u/${encodeURIComponent(u.username)}`, text: u.username }),
          u.display_name && u.display_name !== u.username ? h('span', { class: 'display-name', text: u.display_name }) : null,
          h('span', { class: 'muted small presence-text', text: isOnline(u.username) ? 'Online' : 'Offline' })),
        h('div', { class: 'person-actions' },
          button('Message', 'btn-primary', 'message-friend', async () => {
            await openDirect(u);
          }),
          button('Remove', 'btn-ghost', 'remove-friend', async () => {
            await api.del(`/api/friends/${enc(u.username)}`);
            setPresence(u.username, false);
            toast(`${u.username} is no longer your friend.`);
            await reloadAll();
          })));
    }));
  };

  const reloadAll = async () => {
    try {
      const [inc, out, fr] = await Promise.all([
        all('/api/friends/requests', { direction: 'incoming' }),
        all('/api/friends/requests', { direction: 'outgoing' }),
        all('/api/friends'),
      ]);
      if (!ctx.alive) return;
      renderIncoming(inc);
      renderOutgoing(out);
      renderFriends(fr);
      refreshResultButtons();
    } catch (e) {
      if (ctx.alive) err.show(e);
    }
  };

  // ---- search results ----
  let searchSeq = 0;
  /** The shown results' add buttons: button -> its refresh, run when relationships change. */
  const resultButtons = new Map();

  const addButton = (u) => {
    const b = h('button', { type: 'button', class: 'btn btn-sm btn-primary', testid: 'add-friend' });
    const set = () => {
      if (rel.friends.has(u.username)) {
        b.textContent = 'Friends';
        b.disabled = true;
        b.className = 'btn btn-sm btn-secondary';
      } else if (rel.outgoing.has(u.username)) {
        b.textContent = 'Requested';
        b.disabled = true;
        b.className = 'btn btn-sm btn-secondary';
      } else if (rel.incoming.has(u.username)) {
        b.textContent = 'Accept';
        b.disabled = false;
      } else {
        b.textContent = 'Add friend';
        b.disabled = false;
      }
    };
    set();
    resultButtons.set(b, set);
    b.addEventListener('click', async () => {
      b.disabled = true;
      err.clear();
      try {
        const res = await api.post('/api/friends/requests', { username: u.username });
        if (res.status === 'accepted') {
          rel.friends.add(u.username);
          toast(`You and ${u.username} are now friends.`);
          bus.emit(EVENTS.FRIENDSHIP_NEW);
        } else {
          rel.outgoing.add(u.username);
        }
        set();
        reloadAll();
      } catch (e) {
        err.show(e);
        set();
      }
    });
    return b;
  };

  const refreshResultButtons = () => {
    for (const refresh of resultButtons.values()) refresh();
  };

  const runSearch = async (q) => {
    const query = q.trim();
    const seq = ++searchSeq;
    if (!query) {
      resultButtons.clear();
      replace(results);
      return;
    }
    try {
      const res = await api.get(`/api/search${qs({ q: query, limit: 20 })}`);
      if (!ctx.alive || seq !== searchSeq) return;
      resultButtons.clear();
      if (!res.users.length) {
        replace(results, h('li', { class: 'empty-li muted', testid: 'search-empty', text: `No one matches “${query}”.` }));
        return;
      }
      replace(results, res.users.map((u) => h('li', { class: 'person', testid: 'search-result', dataset: { username: u.username } },
        person(u),
        h('div', { class: 'person-actions' },
          isMe(u.username) ? h('span', { class: 'pill', text: 'You' }) : addButton(u)))));
    } catch (e) {
      if (ctx.alive && seq === searchSeq) err.show(e);
    }
  };
  const debounced = debounce(runSearch, SEARCH_DELAY_MS);
  ctx.cleanup(() => debounced.cancel());
  search.addEventListener('input', () => {
    err.clear();
    debounced(search.value);
  });
  searchForm.addEventListener('submit', (e) => {
    e.preventDefault();
    debounced.cancel();
    runSearch(search.value);
  });

  ctx.on(EVENTS.FRIENDS_CHANGED, () => reloadAll());
  ctx.on(EVENTS.PRESENCE_CHANGED, () => {
    for (const li of friendList.querySelectorAll('[data-testid="friend"]')) {
      const name = li.dataset.username;
      const dot = li.querySelector('[data-testid="presence-dot"]');
      const online = isOnline(name);
      if (dot) {
        dot.dataset.online = String(online);
        dot.title = online ? 'Online' : 'Offline';
        dot.firstChild.textContent = online ? 'online' : 'offline';
      }
      const txt = li.querySelector('.presence-text');
      if (txt) txt.textContent = online ? 'Online' : 'Offline';
    }
  });
  // Someone may have accepted while we were away.
  ctx.on(EVENTS.REALTIME_OPEN, () => reloadAll());

  root.append(h('div', { class: 'page page-friends' },
    h('header', { class: 'page-head' }, h('h1', { text: 'Friends' })),
    h('section', { class: 'card section search-card', 'aria-label': 'Find people' }, searchForm, err.el, results),
    incomingSection,
    friendSection,
    outgoingSection));
  if (window.matchMedia('(min-width: 720px)').matches) search.focus({ preventScroll: true });
  reloadAll();
}
