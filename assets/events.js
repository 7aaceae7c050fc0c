// Every event on the bus, in one table. Names are `subject:change`, both
// words lowercase; the bus refuses any name not listed here, so a typo fails
// at once instead of going unheard.

export const EVENTS = Object.freeze({
  /** Signed in (login or signup form); detail: the user. */
  SESSION_STARTED: 'session:started',
  /** The account is gone (deleted from its profile page). */
  SESSION_ENDED: 'session:ended',
  /** The signed-in user's own view changed (a new or removed avatar); detail: the user. */
  ME_CHANGED: 'me:changed',

  /** The realtime connection's transport or state changed; detail: state.transport. */
  TRANSPORT_CHANGED: 'transport:changed',
  /** A realtime connection said hello; detail: { reconnect }. */
  REALTIME_OPEN: 'realtime:open',

  /** Someone's presence changed; detail: { user, online } (user null: everyone went offline). */
  PRESENCE_CHANGED: 'presence:changed',
  /** A media item's status or progress changed; detail: the MediaView. */
  MEDIA_CHANGED: 'media:changed',

  /** A notification arrived; detail: the notification. */
  NOTIFICATION_NEW: 'notification:new',
  /** The unread notification count changed; detail: the count. */
  NOTIFICATION_COUNT: 'notification:count',

  /** A post's counts changed elsewhere; detail: { id, kind }. */
  POST_STALE: 'post:stale',
  /** A watched post's counts changed; detail: { post_id, like_count, comment_count }. */
  LIVE_COUNTS: 'live:counts',
  /** A new or edited comment on a watched post; detail: { post_id, comment }. */
  LIVE_COMMENT: 'live:comment',
  /** A comment on a watched post was deleted; detail: { post_id, comment_id }. */
  LIVE_COMMENT_REMOVED: 'live:uncomment',
  /** A friend posted (the feed is watched); detail: { post_id, author }. */
  LIVE_FEED_POST: 'live:feedpost',
  /** A friend request was sent, answered or accepted; detail: the notification. */
  FRIENDS_CHANGED: 'friends:changed',
  /** A new friendship, whose presence is only learned on a new connection. */
  FRIENDSHIP_NEW: 'friendship:new',

  /** The conversation list changed. */
  CHAT_CONVERSATIONS: 'chat:conversations',
  /** An unread count changed. */
  CHAT_UNREAD: 'chat:unread',
  /** A message was added or first counted; detail: { conversation_id, message, isNew }. */
  CHAT_MESSAGE: 'chat:message',
  /** A message was queued or acked; detail: { conversation_id, client_msg_id, pending | message }. */
  CHAT_PENDING: 'chat:pending',
  /** Another member read up to a seq; detail: { conversation_id, user, seq }. */
  CHAT_READ: 'chat:read',
  /** Who is typing changed; detail: { conversation_id }. */
  CHAT_TYPING: 'chat:typing',
});

const NAMES = new Set(Object.values(EVENTS));

/** Whether `name` is a declared event. */
export function isEvent(name) {
  return NAMES.has(name);
}
