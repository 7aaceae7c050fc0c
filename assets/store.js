// Client state shared by the views (who is signed in, presence, the
// notification count, media being processed, the realtime connection),
// kept current by the realtime frames. Changes are announced on the bus.

import { api, enc } from './api.js';
import { bus } from './bus.js';
import { EVENTS } from './events.js';

export const state = {
  me: null,
  /** username -> true while online (from presence frames) */
  presence: new Map(),
  notifUnread: 0,
  /** media id -> MediaView */
  media: new Map(),
  transport: { kind: 'none', state: 'closed' },
  realtime: null,
};

export function isMe(username) {
  return !!state.me && username === state.me.username;
}

/** Forgets everything about the signed-out user (chat state has its own reset). */
export function resetState() {
  state.me = null;
  state.presence.clear();
  state.notifUnread = 0;
  state.media.clear();
}

/** Sends a frame over the realtime connection; false when not connected. */
export function sendFrame(frame) {
  return state.realtime ? state.realtime.send(frame) : false;
}

// ---- presence -------------------------------------------------------------

export function isOnline(username) {
  return state.presence.get(username) === true;
}

export function setPresence(username, online) {
  if (online) state.presence.set(username, true);
  else state.presence.delete(username);
  bus.emit(EVENTS.PRESENCE_CHANGED, { user: username, online });
}

export function clearPresence() {
  state.presence.clear();
  bus.emit(EVENTS.PRESENCE_CHANGED, { user: null, online: false });
}

// ---- notifications --------------------------------------------------------

export function setNotifUnread(n) {
  state.notifUnread = Math.max(0, n | 0);
  bus.emit(EVENTS.NOTIFICATION_COUNT, state.notifUnread);
}

export async function refreshNotifCount() {
  try {
    const page = await api.get('/api/notifications?limit=1');
    setNotifUnread(page.unread);
  } catch {
    // keep the old count
  }
}

// ---- media ----------------------------------------------------------------

export function setMedia(view) {
  if (!view?.id) return;
  const old = state.media.get(view.id);
  // Frames may arrive out of order with a fetch; never go back from a
  // final state.
  if (old && (old.status === 'ready' || old.status === 'failed') && old.status !== view.status) return;
  if (old && old.status === view.status && (old.progress || 0) > (view.progress || 0)) return;
  state.media.set(view.id, view);
  bus.emit(EVENTS.MEDIA_CHANGED, view);
}

export async function fetchMedia(id) {
  const view = await api.get(`/api/media/${enc(id)}`);
  setMedia(view);
  return state.media.get(id) || view;
}
