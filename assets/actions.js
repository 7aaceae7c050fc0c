// Actions shared by several views.

import { api, enc, qs } from './api.js';
import { chat, loadConversations } from './chat/client.js';
import { confirmAction } from './confirm.js';
import { navigate } from './router.js';
import { setPresence, state } from './store.js';
import { toast } from './toast.js';

/** Every item of a paged list (at most 10 pages of 100). */
export async function allPages(path, params = {}) {
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

/**
 * Ends the friendship with `username` once the person confirms; answers
 * whether it ended (false: they changed their mind).
 */
export async function unfriend(username) {
  const sure = await confirmAction({
    title: `Remove ${username} from your friends?`,
    body: "You will stop seeing each other's friends-only posts and presence. You can send a new request later.",
    confirmLabel: 'Remove friend',
  });
  if (!sure) return false;
  await api.del(`/api/friends/${enc(username)}`);
  setPresence(username, false);
  toast(`${username} is no longer your friend.`);
  return true;
}

/**
 * Opens (or creates) the direct conversation with a friend and shows it.
 */
export async function openDirect(user) {
  const username = typeof user === 'string' ? user : user.username;
  const res = await api.post('/api/conversations', { members: [username] });
  if (!chat.conv(res.id)) {
    // Known at once, so the chat view can title it before the list loads.
    const other = typeof user === 'string' ? { username, display_name: username } : user;
    chat.ensure({ id: res.id, kind: 'direct', members: [state.me, other] });
  }
  loadConversations().catch(() => {});
  navigate(`#/chat/${encodeURIComponent(res.id)}`);
  return res.id;
}

/** Finds the pending request from/to `username` (direction incoming|outgoing). */
export async function findRequest(username, direction) {
  let cursor = null;
  for (let i = 0; i < 10; i += 1) {
    const q = new URLSearchParams({ direction, limit: '100' });
    if (cursor) q.set('cursor', cursor);
    const page = await api.get(`/api/friends/requests?${q}`);
    const hit = page.items.find((r) => r.user.username === username);
    if (hit) return hit;
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return null;
}
