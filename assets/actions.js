// Actions shared by several views.

import { api } from './api.js';
import { chat, loadConversations } from './chat/client.js';
import { navigate } from './router.js';
import { state } from './store.js';

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
