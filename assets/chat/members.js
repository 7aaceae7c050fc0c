// What an event does to a group (members added, removed or leaving, a new
// title, a new role), and how the thread says it in one line ("Alice added
// Carol"). Pure: no DOM, no clock.
//
// A conversation from the API's list reads as it was at its `last_seq`;
// group events after that are applied on top, last-writer-wins by seq per
// thing they change (the title, each member's membership and role), so a
// replayed event, or an old one on a page of history loaded later, never
// undoes a newer state.

/** The kinds of event that change the group; each shows as a line in the thread. */
export const GROUP_KINDS = new Set(['member_added', 'member_removed', 'member_left', 'renamed', 'role_changed']);

function newer(c, key, seq) {
  return seq > Math.max(c.stateSeq, c.groupKeys.get(key) ?? 0);
}

const same = (a, b) => typeof a === 'string' && typeof b === 'string' && a.toLowerCase() === b.toLowerCase();

/** The seq the group's state in `c` reads as of: its view's, or its last event's. */
export function knownAsOf(c) {
  return Math.max(c.stateSeq, ...c.groupKeys.values());
}

/**
 * Applies group event `e` to conversation `c` (its members, owner, admins
 * and title, and for `me` their role and whether they left). Returns
 * whether anything changed.
 */
export function applyGroupEvent(c, e, me) {
  const user = e.user;
  let changed = false;
  const setRole = (name, role) => {
    c.admins = (c.admins || []).filter((a) => a !== name);
    if (role === 'admin') c.admins.push(name);
    if (role === 'owner') c.owner = name;
    else if (c.owner === name) c.owner = null;
    if (same(name, me)) c.role = role;
  };
  switch (e.kind) {
    case 'member_added':
      if (typeof user !== 'string' || !newer(c, `m:${user}`, e.seq)) return false;
      c.groupKeys.set(`m:${user}`, e.seq);
      if (!c.members.some((m) => m.username === user)) {
        // Their display name and picture come with the next list.
        c.members = [...c.members, { username: user, display_name: user }];
      }
      if (newer(c, `r:${user}`, e.seq)) {
        c.groupKeys.set(`r:${user}`, e.seq);
        setRole(user, e.role || 'member');
      }
      if (same(user, me)) c.left = false;
      return true;
    case 'member_removed':
    case 'member_left':
      if (typeof user !== 'string' || !newer(c, `m:${user}`, e.seq)) return false;
      c.groupKeys.set(`m:${user}`, e.seq);
      c.groupKeys.set(`r:${user}`, e.seq);
      c.members = c.members.filter((m) => m.username !== user);
      setRole(user, 'member');
      if (same(user, me)) c.left = true;
      return true;
    case 'renamed':
      if (!newer(c, 'title', e.seq)) return false;
      c.groupKeys.set('title', e.seq);
      changed = c.title !== (e.title || null);
      c.title = e.title || null;
      return changed;
    case 'role_changed':
      if (typeof user !== 'string' || !newer(c, `r:${user}`, e.seq)) return false;
      c.groupKeys.set(`r:${user}`, e.seq);
      setRole(user, e.role);
      return true;
    default:
      return false;
  }
}

/** `username`'s role in `c`: owner, admin or member. */
export function roleOf(c, username) {
  if (c.owner && c.owner === username) return 'owner';
  if ((c.admins || []).includes(username)) return 'admin';
  return 'member';
}

/**
 * What `me` may do in group `c`: add, rename and remove members (owner
 * and admins), remove admins and change roles (owner).
 */
export function powers(c, me) {
  const group = c.kind === 'group' && !c.left;
  const role = group ? (c.role || roleOf(c, me)) : 'member';
  const manages = group && (role === 'owner' || role === 'admin');
  return {
    manages,
    owner: group && role === 'owner',
    /** Whether `me` may remove `username`: admins remove members, the owner anyone. */
    canRemove: (username) => manages && !same(username, me)
      && (role === 'owner' || roleOf(c, username) === 'member'),
  };
}

/**
 * Group event `e` as one line of the thread, or null for kinds that do not
 * show. `nameOf(username)` gives the name to show; `me` reads as "You".
 */
export function systemText(e, nameOf, me) {
  const who = (u, start) => {
    if (u === null || u === undefined) return start ? 'Someone' : 'someone';
    if (same(u, me)) return start ? 'You' : 'you';
    return nameOf(u);
  };
  const actor = e.actor ?? null;
  const by = actor !== null && !same(actor, e.user);
  switch (e.kind) {
    case 'member_added':
      return by ? `${who(actor, true)} added ${who(e.user)}` : `${who(e.user, true)} joined`;
    case 'member_removed':
      return by ? `${who(actor, true)} removed ${who(e.user)}` : `${who(e.user, true)} ${same(e.user, me) ? 'were' : 'was'} removed`;
    case 'member_left':
      return `${who(e.user, true)} left`;
    case 'renamed':
      return `${who(actor, true)} renamed the group to “${e.title}”`;
    case 'role_changed': {
      const you = same(e.user, me);
      if (e.role === 'owner') return by ? `${who(actor, true)} made ${who(e.user)} the owner` : `${who(e.user, true)} ${you ? 'are' : 'is'} now the owner`;
      if (e.role === 'admin') return by ? `${who(actor, true)} made ${who(e.user)} an admin` : `${who(e.user, true)} ${you ? 'are' : 'is'} now an admin`;
      return by ? `${who(actor, true)} removed ${who(e.user)} as an admin` : `${who(e.user, true)} ${you ? 'are' : 'is'} no longer an admin`;
    }
    default:
      return null;
  }
}
