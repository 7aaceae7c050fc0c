// Friends: search people and posts (trending tags shown until you type),
// answer requests, see who is online.

import { allPages, openDirect, unfriend } from '../actions.js';
import { api, enc, qs } from '../api.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { loadError } from '../load-error.js';
import { setTitle } from '../router.js';
import { isMe, isOnline } from '../store.js';
import { toast } from '../toast.js';
import { actionButton, avatar, debounce, emptyState, formError, h, replace, spinner, uid } from '../ui.js';
import { createViewContext } from '../view-context.js';
import { renderPost } from './posts.js';
import { trendingPanel } from './trending.js';

/** Search runs this long after the last keystroke. */
const SEARCH_DELAY_MS = 250;

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
    placeholder: 'Search people and posts',
    autocomplete: 'off',
    autocapitalize: 'none',
    spellcheck: 'false',
  });
  const results = h('ul', { class: 'people', testid: 'search-results' });
  const postResults = h('div', { class: 'post-list search-posts', testid: 'search-posts' });
  const searchForm = h('form', { class: 'search-form', role: 'search', novalidate: true },
    h('label', { for: searchId, class: 'field-label', text: 'Search people and posts' }),
    h('div', { class: 'search-box' }, icon('search', 'icon search-icon'), search));
  // What a search found, said once (the panels themselves are not live).
  const summary = h('p', { class: 'sr-only', role: 'status', testid: 'search-summary' });

  // People and posts found: two tabs (arrow keys move between them).
  const tab = (key, label) => {
    const count = h('span', { class: 'search-tab-count' });
    const b = h('button', {
      type: 'button',
      role: 'tab',
      id: uid(`search-tab-${key}`),
      class: 'search-tab',
      testid: `search-tab-${key}`,
      'aria-selected': 'false',
      tabindex: '-1',
    }, h('span', { text: label }), count);
    return { key, button: b, count };
  };
  const tabs = [tab('people', 'People'), tab('posts', 'Posts')];
  const panels = {
    people: h('div', { role: 'tabpanel', id: uid('search-people'), class: 'search-panel', testid: 'search-people' }, results),
    posts: h('div', { role: 'tabpanel', id: uid('search-posts'), class: 'search-panel', testid: 'search-posts-panel', hidden: true }, postResults),
  };
  for (const t of tabs) {
    t.button.setAttribute('aria-controls', panels[t.key].id);
    panels[t.key].setAttribute('aria-labelledby', t.button.id);
  }
  const tabList = h('div', { class: 'search-tabs', role: 'tablist', 'aria-label': 'Search results' }, tabs.map((t) => t.button));
  const resultsArea = h('div', { class: 'search-results', hidden: true }, tabList, panels.people, panels.posts);
  // What is being talked about, in place of results until there are some.
  const trends = trendingPanel({ look: 'chips', testid: 'search-trending' });
  const showResults = (on) => {
    resultsArea.hidden = !on;
    trends.el.hidden = on;
  };
  /** The tab shown, and the one the reader picked (kept while they refine the words). */
  let shownTab = 'people';
  let chosenTab = null;
  const selectTab = (key, focus) => {
    shownTab = key;
    for (const t of tabs) {
      const on = t.key === key;
      t.button.setAttribute('aria-selected', on ? 'true' : 'false');
      t.button.tabIndex = on ? 0 : -1;
      panels[t.key].hidden = !on;
      if (on && focus) t.button.focus();
    }
  };
  for (const [i, t] of tabs.entries()) {
    t.button.addEventListener('click', () => {
      chosenTab = t.key;
      selectTab(t.key, false);
    });
    t.button.addEventListener('keydown', (e) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      const next = tabs[(to + tabs.length) % tabs.length];
      chosenTab = next.key;
      selectTab(next.key, true);
    });
  }
  // The found posts' own context (their listeners), replaced with each search.
  let postsCtx = null;
  const freshPostsCtx = () => {
    postsCtx?.dispose();
    postsCtx = createViewContext();
    return postsCtx;
  };
  ctx.cleanup(() => postsCtx?.dispose());

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
          button('Remove', 'btn-ghost', 'remove-friend', async (b) => {
            if (await unfriend(u.username)) await reloadAll();
            else b.disabled = false;
          })));
    }));
  };

  // The first load failed (offline?): one error with "Try again" where the
  // friends would be; it loads again by itself once the connection is back
  // (REALTIME_OPEN below).
  let loaded = false;
  const loadErr = loadError({ retry: () => reloadAll() });
  const reloadAll = async () => {
    if (loadErr.failed) replace(friendList, spinner('Loading friends…'));
    loadErr.clear();
    try {
      const [inc, out, fr] = await Promise.all([
        allPages('/api/friends/requests', { direction: 'incoming' }),
        allPages('/api/friends/requests', { direction: 'outgoing' }),
        allPages('/api/friends'),
      ]);
      if (!ctx.alive) return;
      renderIncoming(inc);
      renderOutgoing(out);
      renderFriends(fr);
      refreshResultButtons();
      loaded = true;
    } catch (e) {
      if (!ctx.alive) return;
      if (loaded) {
        err.show(e);
        return;
      }
      loadErr.show(e);
      replace(friendList, h('li', {}, loadErr.el));
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

  const showPosts = (posts, query) => {
    const pctx = freshPostsCtx();
    if (!posts.length) {
      replace(postResults, h('p', { class: 'search-empty muted', testid: 'search-posts-empty', text: `No posts match “${query}”.` }));
      return;
    }
    replace(postResults, posts.map((p) => renderPost(p, pctx, {
      fold: true,
      onDelete: () => {
        if (!postResults.querySelector('[data-testid="post"]')) showPosts([], query);
      },
    })));
  };

  const runSearch = async (q) => {
    const query = q.trim();
    const seq = ++searchSeq;
    if (!query) {
      resultButtons.clear();
      replace(results);
      replace(postResults);
      postsCtx?.dispose();
      postsCtx = null;
      showResults(false);
      summary.textContent = '';
      chosenTab = null;
      return;
    }
    try {
      const res = await api.get(`/api/search${qs({ q: query, limit: 20 })}`);
      if (!ctx.alive || seq !== searchSeq) return;
      const users = res.users || [];
      const posts = res.posts || [];
      resultButtons.clear();
      if (!users.length) {
        replace(results, h('li', { class: 'search-empty muted', testid: 'search-empty', text: `No one matches “${query}”.` }));
      } else {
        replace(results, users.map((u) => h('li', { class: 'person', testid: 'search-result', dataset: { username: u.username } },
          person(u),
          h('div', { class: 'person-actions' },
            isMe(u.username) ? h('span', { class: 'pill', text: 'You' }) : addButton(u)))));
      }
      showPosts(posts, query);
      tabs[0].count.textContent = String(users.length);
      tabs[1].count.textContent = String(posts.length);
      // The tab they picked, unless it found nothing and the other did.
      let key = chosenTab || shownTab;
      if (key === 'people' && !users.length && posts.length) key = 'posts';
      else if (key === 'posts' && !posts.length && users.length) key = 'people';
      selectTab(key, false);
      showResults(true);
      const count = (n, one, many) => `${n || 'No'} ${n === 1 ? one : many}`;
      summary.textContent = `${count(users.length, 'person', 'people')} and ${count(posts.length, 'post', 'posts').toLowerCase()} match “${query}”.`;
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
    h('section', { class: 'card section search-card', 'aria-label': 'Search' }, searchForm, err.el, summary, resultsArea, trends.el),
    incomingSection,
    friendSection,
    outgoingSection));
  if (window.matchMedia('(min-width: 720px)').matches) search.focus({ preventScroll: true });
  reloadAll();
  trends.load();
}
