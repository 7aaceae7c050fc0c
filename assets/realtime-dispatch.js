// The signed-in user's realtime connection: starts and stops it, and
// dispatches every server frame (docs/protocol.md) to the state, the chat
// and the bus.

import { bus } from './bus.js';
import { chat, loadConversations } from './chat/client.js';
import { EVENTS } from './events.js';
import { onLiveFrame } from './live.js';
import { Realtime } from './realtime.js';
import { clearPresence, refreshNotifCount, setMedia, setNotifUnread, setPresence, state } from './store.js';
import { toast } from './toast.js';

/** Error codes shown to the reader: each means what they just did was not done. */
const TOLD_ERRORS = new Set(['rate_limited', 'unavailable', 'forbidden', 'invalid']);

/** Told when the server ends the connection because its session ended (session.js). */
let onKicked = null;

/** Registers what happens when the server ends the session's connection (code 4000). */
export function setKickedHandler(fn) {
  onKicked = fn;
}

/** The conversation list's first load, which the first sync waits for. */
let listLoading = null;
let helloCount = 0;
/**
 * The last resume point the server gave (hello, checkpoint, resumed): a
 * new connection sends it in one `resume` and gets everything missed, in
 * every conversation (docs/protocol.md).
 */
let resumeToken = null;
/** Between `resume` and `resumed`: notifications are replays, not news. */
let resuming = false;

/** A frame's fields without its `type`. */
function fieldsOf(f) {
  const rest = { ...f };
  delete rest.type;
  return rest;
}

function onNotification(n) {
  // Replayed by a resume: the count is read afresh once it is done.
  if (resuming) return;
  if (!n.read) setNotifUnread(state.notifUnread + 1);
  bus.emit(EVENTS.NOTIFICATION_NEW, n);
  if ((n.kind === 'like' || n.kind === 'comment') && n.subject_id) bus.emit(EVENTS.POST_STALE, { id: n.subject_id, kind: n.kind });
  if (n.kind === 'friend_request' || n.kind === 'friend_accepted') bus.emit(EVENTS.FRIENDS_CHANGED, n);
  if (n.kind === 'friend_accepted') bus.emit(EVENTS.FRIENDSHIP_NEW);
  if (n.kind === 'message' && n.subject_id && !chat.conv(n.subject_id)) chat.refreshSoon();
}

function onFrame(f) {
  if (onLiveFrame(f)) return;
  switch (f.type) {
    case '__connected':
      // A new connection: presence is re-announced after hello.
      clearPresence();
      break;
    case 'hello':
      helloCount += 1;
      onHello(helloCount > 1, f.resume_token);
      break;
    case 'checkpoint':
      resumeToken = f.token;
      break;
    case 'resumed':
      resuming = false;
      resumeToken = f.token;
      refreshNotifCount();
      // Too long away, or too much missed: every conversation syncs.
      if (f.full) chat.resync();
      break;
    case 'presence':
      setPresence(f.user, f.status === 'online');
      break;
    case 'message':
      chat.onMessageFrame(f);
      break;
    case 'event':
      chat.onEventFrame(f);
      break;
    case 'ack':
      chat.onAck(f);
      break;
    case 'synced':
      chat.onSynced(f);
      break;
    case 'typing':
      chat.onTyping(f);
      break;
    case 'read':
      chat.onRead(f);
      break;
    case 'notification':
      onNotification(fieldsOf(f));
      break;
    case 'media':
      setMedia(fieldsOf(f));
      break;
    case 'error':
      if (resuming) {
        // Most likely the resume itself (a token the server no longer
        // takes): catch up the long way.
        resuming = false;
        resumeToken = null;
        chat.resync();
        refreshNotifCount();
      }
      if (TOLD_ERRORS.has(f.code)) toast(f.message || 'The server could not handle that.', 'error');
      break;
    default:
      break;
  }
}

async function onHello(isReconnect, token) {
  resuming = false;
  if (listLoading) {
    try {
      await listLoading;
    } catch {
      // sync what we know
    }
  }
  if (isReconnect && resumeToken && state.realtime?.send({ type: 'resume', token: resumeToken })) {
    resuming = true;
    chat.resync({ sync: false });
  } else {
    resumeToken = token || null;
    chat.resync();
  }
  bus.emit(EVENTS.REALTIME_OPEN, { reconnect: isReconnect });
  if (isReconnect) {
    refreshNotifCount();
    loadConversations().catch(() => {});
  }
}

/**
 * Opens the connection for the signed-in user. `initialLoad`: the
 * conversation list's first load, so the first sync asks after what the
 * list says.
 */
export function startRealtime(initialLoad) {
  listLoading = initialLoad;
  if (state.realtime) return;
  helloCount = 0;
  resumeToken = null;
  resuming = false;
  state.realtime = new Realtime({
    onFrame,
    onStatus: (kind, st, info) => {
      state.transport = { kind, state: st, retryAt: info?.retryAt || 0 };
      bus.emit(EVENTS.TRANSPORT_CHANGED, state.transport);
    },
    onClose: clearPresence,
    onKicked: (reason) => (onKicked ? onKicked(reason) : state.realtime?.reconnectNow()),
  });
  state.realtime.start();
}

export function stopRealtime() {
  if (!state.realtime) return;
  state.realtime.stop();
  state.realtime = null;
  state.transport = { kind: 'none', state: 'closed', retryAt: 0 };
}

/**
 * Presence is only announced when a connection opens: reconnect on a new
 * friendship to learn the new friend's.
 */
export function watchNewFriendships() {
  bus.on(EVENTS.FRIENDSHIP_NEW, () => {
    if (state.realtime) state.realtime.refresh();
  });
}
