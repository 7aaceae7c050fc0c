// What the chat knows of one conversation, and how a view of it from the
// API (the list, or `GET /api/conversations/{id}`) updates that: the group
// fields only when the view is as new as the last group event applied
// (members.js), the counts only when it is as new as the last item seen.
// Pure: no DOM, no clock.

import { knownAsOf } from './members.js';

/** A conversation as the machine keeps it: the API's view plus what the client tracks. */
export function newConversation(view) {
  return {
    id: view.id,
    kind: view.kind || 'direct',
    title: view.title || null,
    members: view.members || [],
    /** Your standing in a group: owner, admin or member. */
    role: view.role || 'member',
    owner: view.owner || null,
    admins: view.admins || [],
    muted: !!view.muted,
    /** You left or were removed: the history up to then only. */
    left: !!view.left,
    /** The seq the group fields above were read at (the list's `last_seq`). */
    stateSeq: 0,
    /** Per group field changed by an event since: the seq of its last change (members.js). */
    groupKeys: new Map(),
    last_seq: 0,
    unread: 0,
    /** Unread messages that name you. */
    mentions: 0,
    last_message: null,
    /** Messages at or below this seq are already in `unread`. */
    base: 0,
    /** The list's unread count at `base` (the rest are in `unreadSeqs`). */
    listUnread: 0,
    /** Seqs above `base` already counted. */
    counted: new Set(),
    /** Seqs above `base` that made `unread` (and `mentions`) go up. */
    unreadSeqs: new Set(),
    mentionSeqs: new Set(),
    /** seq -> message, for loaded history */
    messages: new Map(),
    /** seq -> what each message's snapshot holds (items.js) */
    clocks: new Map(),
    /** seq -> group event, each a line of the thread */
    events: new Map(),
    historyLoaded: false,
    hasMoreBefore: false,
    /** The oldest seq of the history loaded: the next older page ends before it. */
    oldestSeq: null,
    /** username -> seq read */
    reads: new Map(),
    readSent: 0,
    answeredAt: 0,
    /** username -> expiry ms */
    typing: new Map(),
    activity: 0,
  };
}

/**
 * Takes what `view` says of conversation `c`. Read positions are the
 * machine's (they announce themselves).
 */
export function mergeView(c, view) {
  c.kind = view.kind || c.kind;
  const seq = view.last_seq ?? 0;
  // A view older than a group event already applied would undo it.
  if (seq >= knownAsOf(c)) {
    c.stateSeq = seq;
    c.groupKeys.clear();
    if ('title' in view) c.title = view.title ?? null;
    if (view.members?.length || view.left) c.members = view.members || [];
    if (view.role) c.role = view.role;
    if ('owner' in view) c.owner = view.owner ?? null;
    if (Array.isArray(view.admins)) c.admins = view.admins;
    if ('left' in view) c.left = !!view.left;
  }
  // Not sequenced: the latest answer is the truth.
  if ('muted' in view) c.muted = !!view.muted;
  if (seq >= c.last_seq) {
    c.unread = view.unread ?? 0;
    c.mentions = view.mentions ?? 0;
    c.listUnread = c.unread;
    c.unreadSeqs.clear();
    c.mentionSeqs.clear();
    c.last_seq = seq;
    c.base = Math.max(c.base, seq);
    if (view.last_message) c.last_message = view.last_message;
  }
  if (c.last_message) c.activity = Math.max(c.activity, Date.parse(c.last_message.created_at) || 0);
}
