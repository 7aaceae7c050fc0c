// What an event does to the message it targets: edits, unsends and
// reactions (docs/protocol.md, "Conversations as sequences").
//
// A message arrives as it read when it was sent or listed, and the events
// after it say what changed. Events may reach a client twice (live, then
// replayed) or around a snapshot that already holds them (a page of
// history lists each message as it reads now), so each change is applied
// last-writer-wins by seq, per thing it changes: the body, each member's
// reaction with each emoji. A change no newer than the snapshot, or than
// the last change to the same thing, is ignored; an unsend is final
// whatever the order. Pure: no DOM, no clock.

/** The reactions offered, in the order chips show them (REACTIONS in core/src/protocol.rs). */
export const REACTIONS = Object.freeze(['👍', '❤️', '😂', '😮', '😢', '🙏', '🎉', '🔥']);

/** The kinds of event that change a message; the others change the group. */
export const MESSAGE_KINDS = new Set(['edit', 'unsend', 'react', 'unreact']);

/** The longest quote of a replied-to message, in characters (REPLY_EXCERPT_CHARS). */
export const EXCERPT_CHARS = 100;

/**
 * What a message's snapshot already holds: changes at or below `floor`
 * are in it; `keys` holds, per thing changed since, the seq of its last
 * change.
 */
export function clockOf(floor) {
  return { floor, keys: new Map() };
}

function newer(clock, key, seq) {
  return seq > Math.max(clock.floor, clock.keys.get(key) ?? 0);
}

/** `body` as a quote shows it: on one line, at most EXCERPT_CHARS characters. */
export function excerptOf(body) {
  const line = String(body || '').replace(/\s+/g, ' ').trim();
  return [...line].slice(0, EXCERPT_CHARS).join('');
}

/** `reactions` with `user` added to (or taken off) `emoji`, in REACTIONS order. */
export function withReaction(reactions, emoji, user, on) {
  const byEmoji = new Map((reactions || []).map((r) => [r.emoji, r.users || []]));
  const users = byEmoji.get(emoji) || [];
  const has = users.includes(user);
  if (on === has) return reactions || [];
  byEmoji.set(emoji, on ? [...users, user] : users.filter((u) => u !== user));
  return REACTIONS.filter((e) => byEmoji.get(e)?.length).map((e) => ({ emoji: e, users: byEmoji.get(e) }));
}

/**
 * The message `m` after event `e` (one of MESSAGE_KINDS, targeting it),
 * given its clock (updated in place): a new object, or null when the
 * event changes nothing (already applied, older than the snapshot, or
 * made moot by an unsend).
 */
export function applyChange(m, clock, e) {
  if (e.kind === 'unsend') {
    if (m.unsent) return null;
    return { ...m, unsent: true, body: '', media: [], reactions: [], mentions: [] };
  }
  // An unsent message takes no more changes (the server refuses them too).
  if (m.unsent) return null;
  if (e.kind === 'edit') {
    if (!newer(clock, 'body', e.seq)) return null;
    clock.keys.set('body', e.seq);
    return { ...m, body: e.body ?? '', mentions: e.mentions || [], edited_at: e.edited_at || m.edited_at || null };
  }
  if (e.kind === 'react' || e.kind === 'unreact') {
    if (!e.actor || !REACTIONS.includes(e.emoji)) return null;
    const key = `r:${e.emoji}:${e.actor}`;
    if (!newer(clock, key, e.seq)) return null;
    clock.keys.set(key, e.seq);
    const reactions = withReaction(m.reactions, e.emoji, e.actor, e.kind === 'react');
    return reactions === m.reactions ? null : { ...m, reactions };
  }
  return null;
}

/**
 * The quote in a reply after the message it quotes changed: a new reply
 * message, or null when `reply` does not quote `target`.
 */
export function requote(reply, target) {
  const q = reply.reply_to;
  if (!q || q.seq !== target.seq) return null;
  const next = target.unsent ? { ...q, excerpt: '', unsent: true } : { ...q, excerpt: excerptOf(target.body) };
  if (next.excerpt === q.excerpt && next.unsent === q.unsent) return null;
  return { ...reply, reply_to: next };
}

/**
 * `m` as its sender sees it while their own changes wait for the server:
 * `actions` (the pending ones for this message, oldest first) laid over it.
 */
export function overlay(m, actions, me) {
  let out = m;
  for (const a of actions) {
    if (out.unsent) break;
    if (a.kind === 'unsend') out = { ...out, unsent: true, body: '', media: [], reactions: [], mentions: [] };
    else if (a.kind === 'edit') out = { ...out, body: a.body, edited_at: out.edited_at || a.created_at };
    else if (a.kind === 'react') out = { ...out, reactions: withReaction(out.reactions, a.emoji, me, !a.remove) };
  }
  return out;
}

/** Whether `user` reacted to `m` with `emoji`. */
export function reacted(m, emoji, user) {
  return !!(m.reactions || []).find((r) => r.emoji === emoji)?.users?.includes(user);
}
