// The app's chat: the state machine (machine.js) wired to the page, the
// realtime connection, the bus and the HTTP API.

import { api, enc, qs } from '../api.js';
import { bus } from '../bus.js';
import { sendFrame, state } from '../store.js';
import { ChatMachine } from './machine.js';

/** Pages of the conversation list read at most: enough for anyone's sidebar. */
const LIST_PAGES = 5;
const LIST_PAGE_SIZE = 100;
/** Messages per page of history. */
const HISTORY_PAGE_SIZE = 40;

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

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
  newId: newClientId,
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

/** Marks the open conversation read when the page comes back on screen. */
export function watchPageVisibility() {
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && chat.active) chat.markReadIfVisible(chat.active);
  });
}
