// The app's chat: the state machine (machine.js) wired to the page, the
// realtime connection, the bus and the HTTP API.

import { api, enc, qs, randomId } from '../api.js';
import { bus } from '../bus.js';
import { sendFrame, state } from '../store.js';
import { ChatMachine } from './machine.js';

/** Pages of the conversation list read at most: enough for anyone's sidebar. */
const LIST_PAGES = 5;
const LIST_PAGE_SIZE = 100;
/** Messages per page of history. */
const HISTORY_PAGE_SIZE = 40;


export const chat = new ChatMachine({
  me: () => (state.me ? state.me.username : null),
  now: () => Date.now(),
  pageVisible: () => document.visibilityState === 'visible',
  send: sendFrame,
  emit: (type, detail) => bus.emit(type, detail),
  timers: {
    set: (fn, ms) => setTimeout(fn, ms),
    clear: (t) => clearTimeout(t),
  },
  newId: randomId,
  refreshList: () => {
    loadConversations().catch(() => {});
  },
});

/** Loads the conversation list into the chat state; resolves to its items. */
export async function loadConversations() {
  const items = [];
  let cursor = null;
  for (let i = 0; i < LIST_PAGES; i += 1) {
    const page = await api.get(`/api/conversations${qs({ limit: LIST_PAGE_SIZE, cursor })}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  chat.applyList(items);
  return items;
}

/** Loads the newest page of a conversation's history (or the page before `beforeSeq`). */
export async function loadHistory(id, beforeSeq = null) {
  const page = await api.get(`/api/conversations/${enc(id)}/messages${qs({ before_seq: beforeSeq, limit: HISTORY_PAGE_SIZE })}`);
  chat.applyHistory(id, page, beforeSeq);
  return page;
}

/** Names being looked up, so each is asked for once. */
const lookingUp = new Set();

/**
 * Looks up the display names of `usernames` no conversation's members
 * gave (people who left a group before this page loaded), once each.
 */
export async function learnNames(usernames) {
  const wanted = [...new Set(usernames)].filter((u) => typeof u === 'string' && !chat.names.has(u) && !lookingUp.has(u));
  if (!wanted.length) return;
  for (const u of wanted) lookingUp.add(u);
  const found = await Promise.all(wanted.map(async (u) => {
    try {
      const profile = await api.get(`/api/users/${enc(u)}`);
      return [u, profile?.user?.display_name || u];
    } catch {
      // Gone, or blocking us: their username it is.
      return [u, u];
    }
  }));
  chat.learnNames(found);
}

/** Marks the open conversation read when the page comes back on screen. */
export function watchPageVisibility() {
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && chat.active) chat.markReadIfVisible(chat.active);
  });
}

/** Reads one conversation again (after a change to the group, or to mute). */
export async function loadConversation(id) {
  const view = await api.get(`/api/conversations/${enc(id)}`);
  chat.applyConversation(view);
  return view;
}

// Managing a group (docs/protocol.md): each change comes back to every
// member, this page included, as an event of the thread.

/** Renames group `id` (its owner and admins). */
export function renameGroup(id, title) {
  return api.patch(`/api/conversations/${enc(id)}`, { title });
}

/** Adds friends of ours to group `id`; resolves to the usernames added. */
export async function addMembers(id, usernames) {
  const res = await api.post(`/api/conversations/${enc(id)}/members`, { members: usernames });
  return res?.added || [];
}

/** Removes `username` from group `id`; our own name leaves it. */
export async function removeMember(id, username) {
  await api.del(`/api/conversations/${enc(id)}/members/${enc(username)}`);
  // Our own standing (left, role) is in the conversation's view.
  await loadConversation(id).catch(() => {});
}

/** Makes `username` an admin of group `id`, or a member again (its owner only). */
export function setRole(id, username, role) {
  return api.put(`/api/conversations/${enc(id)}/members/${enc(username)}/role`, { role });
}

/** Mutes (or unmutes) conversation `id` for us. */
export async function setMuted(id, muted) {
  await api.put(`/api/conversations/${enc(id)}/mute`, { muted });
  await loadConversation(id).catch(() => {
    const c = chat.conv(id);
    if (c) chat.applyConversation({ id, muted });
  });
}
