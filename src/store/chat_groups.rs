//! Groups as their members manage them: adding, removing, leaving, roles,
//! the title, and each member's mute. Every change but a mute is an event
//! of the conversation's sequence ([`Change`]), shown in the thread and
//! replayed by `sync`.
//!
//! A member added later reads from their addition on; a removed one reads
//! up to their removal and nothing after, on every node, because both
//! marks are in their row (`joined_seq`, `left_seq`) and every read checks
//! them.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::chat::{MAX_MEMBERS, Membership, Stored, append_event, check_member};
use super::relations::ARE_FRIENDS;
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};
use kith_core::protocol::{Change, Role};

/// A server-made event's client id: unique, as the column requires.
fn event_client_id() -> String {
    format!("event:{}", Id::generate())
}

fn username(conn: &Connection, user: Id) -> Result<String, CmdError> {
    conn.prepare_cached("SELECT username FROM users WHERE id = ?")?
        .query_row([user.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| CmdError::NotFound("no such user".into()))
}

/// Refused unless `conversation` is a group and `actor` manages it (or,
/// without `manage`, is in it).
fn group_member(
    conn: &Connection,
    conversation: Id,
    actor: Id,
    manage: bool,
) -> Result<Membership, CmdError> {
    let m = check_member(conn, conversation, actor)?;
    let kind: String = conn
        .prepare_cached("SELECT kind FROM conversations WHERE id = ?")?
        .query_row([conversation.0], |r| r.get(0))?;
    if kind != "group" {
        return Err(CmdError::Invalid(
            "a direct conversation has no members to manage".into(),
        ));
    }
    if manage && !m.role.manages() {
        return Err(CmdError::Forbidden(
            "only the group's owner and admins may do this".into(),
        ));
    }
    Ok(m)
}

fn set_role(conn: &Connection, conversation: Id, user: Id, role: Role) -> Result<(), CmdError> {
    conn.prepare_cached(
        "UPDATE conversation_members SET role = ? WHERE conversation_id = ? AND user_id = ?",
    )?
    .execute(params![role.as_str(), conversation.0, user.0])?;
    Ok(())
}

/// The users a change was about and the events it stored, for telling
/// every member (and the ones it removed).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupChange {
    pub events: Vec<Stored>,
    /// Users added (their usernames).
    pub added: Vec<String>,
    /// A user who is no longer a member because of it.
    pub gone: Option<Id>,
}

/// A group whose owner is gone passes to its longest-standing admin, or
/// else its longest-standing member, with an event saying so; answers it.
pub fn hand_over(conn: &Connection, conversation: Id) -> Result<Option<Stored>, CmdError> {
    let heir: Option<i64> = conn
        .prepare_cached(
            "SELECT user_id FROM conversation_members
             WHERE conversation_id = ? AND left_seq IS NULL
             ORDER BY role = 'admin' DESC, joined_at, user_id LIMIT 1",
        )?
        .query_row([conversation.0], |r| r.get(0))
        .optional()?;
    let Some(heir) = heir.map(Id) else {
        return Ok(None);
    };
    set_role(conn, conversation, heir, Role::Owner)?;
    let change = Change::RoleChanged {
        user: username(conn, heir)?,
        role: Role::Owner,
    };
    append_event(conn, conversation, None, &event_client_id(), &change).map(Some)
}

/// Adds the actor's friends to a group (owner and admins).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddMembers {
    pub conversation: Id,
    pub actor: Id,
    pub members: Vec<Id>,
}

impl Command for AddMembers {
    type Reply = GroupChange;
    fn apply(self, conn: &Connection) -> Result<GroupChange, CmdError> {
        let AddMembers {
            conversation,
            actor,
            mut members,
        } = self;
        group_member(conn, conversation, actor, true)?;
        members.sort();
        members.dedup();
        let mut is_friend = conn.prepare_cached(ARE_FRIENDS)?;
        let mut new = Vec::new();
        for m in members {
            let current = super::chat::membership(conn, conversation, m)?;
            if current.is_some_and(|c| c.left_seq.is_none()) {
                continue;
            }
            if !is_friend.exists(params![actor.0, m.0])? {
                return Err(CmdError::Forbidden("you can only add your friends".into()));
            }
            new.push(m);
        }
        let count: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM conversation_members
                 WHERE conversation_id = ? AND left_seq IS NULL",
            )?
            .query_row([conversation.0], |r| r.get(0))?;
        if count as usize + new.len() > MAX_MEMBERS {
            return Err(CmdError::Invalid(format!(
                "a conversation has at most {MAX_MEMBERS} members"
            )));
        }
        let mut out = GroupChange::default();
        for m in new {
            let user = username(conn, m)?;
            let change = Change::MemberAdded {
                user: user.clone(),
                role: Role::Member,
            };
            let item = append_event(conn, conversation, Some(actor), &event_client_id(), &change)?;
            // They read from their own addition on, and have read nothing.
            let before = item.seq - 1;
            conn.prepare_cached(
                "INSERT INTO conversation_members
                   (conversation_id, user_id, joined_at, role, joined_seq, left_seq, last_read_seq)
                 VALUES (?1, ?2, ?3, 'member', ?4, NULL, ?4)
                 ON CONFLICT (conversation_id, user_id) DO UPDATE SET
                   joined_at = ?3, role = 'member', joined_seq = ?4, left_seq = NULL,
                   last_read_seq = ?4, muted = 0",
            )?
            .execute(params![conversation.0, m.0, now_ms(), before])?;
            out.events.push(item);
            out.added.push(user);
        }
        Ok(out)
    }
}

/// Removes a member (the owner removes anyone, admins remove members), or
/// with `user` the actor, leaves. An owner who leaves hands the group to
/// its longest-standing admin, or else its longest-standing member.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RemoveMember {
    pub conversation: Id,
    pub actor: Id,
    pub user: Id,
}

impl Command for RemoveMember {
    type Reply = GroupChange;
    fn apply(self, conn: &Connection) -> Result<GroupChange, CmdError> {
        let RemoveMember {
            conversation,
            actor,
            user,
        } = self;
        let leaving = actor == user;
        let me = group_member(conn, conversation, actor, !leaving)?;
        let them = if leaving {
            me
        } else {
            match super::chat::membership(conn, conversation, user)? {
                Some(m) if m.left_seq.is_none() => m,
                // Already gone: removing again changes nothing.
                Some(_) => return Ok(GroupChange::default()),
                None => return Err(CmdError::NotFound("not a member of this group".into())),
            }
        };
        if !leaving && me.role != Role::Owner && them.role != Role::Member {
            return Err(CmdError::Forbidden(
                "only the owner may remove an admin".into(),
            ));
        }
        let name = username(conn, user)?;
        let change = if leaving {
            Change::MemberLeft { user: name }
        } else {
            Change::MemberRemoved { user: name }
        };
        let item = append_event(conn, conversation, Some(actor), &event_client_id(), &change)?;
        conn.prepare_cached(
            "UPDATE conversation_members SET left_seq = ?, role = 'member'
             WHERE conversation_id = ? AND user_id = ?",
        )?
        .execute(params![item.seq, conversation.0, user.0])?;
        let mut out = GroupChange {
            events: vec![item],
            added: vec![],
            gone: Some(user),
        };
        if them.role == Role::Owner {
            out.events.extend(hand_over(conn, conversation)?);
        }
        Ok(out)
    }
}

/// The owner makes a member an admin or a member again, or hands the
/// group over (`Owner`: the old owner becomes an admin).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetRole {
    pub conversation: Id,
    pub actor: Id,
    pub user: Id,
    pub role: Role,
}

impl Command for SetRole {
    type Reply = GroupChange;
    fn apply(self, conn: &Connection) -> Result<GroupChange, CmdError> {
        let SetRole {
            conversation,
            actor,
            user,
            role,
        } = self;
        let me = group_member(conn, conversation, actor, true)?;
        if me.role != Role::Owner {
            return Err(CmdError::Forbidden(
                "only the owner may change roles".into(),
            ));
        }
        if user == actor {
            return Err(CmdError::Invalid(
                "hand the group to another member instead".into(),
            ));
        }
        let them = match super::chat::membership(conn, conversation, user)? {
            Some(m) if m.left_seq.is_none() => m,
            _ => return Err(CmdError::NotFound("not a member of this group".into())),
        };
        if them.role == role {
            return Ok(GroupChange::default());
        }
        let mut out = GroupChange::default();
        set_role(conn, conversation, user, role)?;
        let change = Change::RoleChanged {
            user: username(conn, user)?,
            role,
        };
        out.events.push(append_event(
            conn,
            conversation,
            Some(actor),
            &event_client_id(),
            &change,
        )?);
        if role == Role::Owner {
            set_role(conn, conversation, actor, Role::Admin)?;
            let change = Change::RoleChanged {
                user: username(conn, actor)?,
                role: Role::Admin,
            };
            out.events.push(append_event(
                conn,
                conversation,
                Some(actor),
                &event_client_id(),
                &change,
            )?);
        }
        Ok(out)
    }
}

/// Renames a group (owner and admins).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rename {
    pub conversation: Id,
    pub actor: Id,
    pub title: String,
}

impl Command for Rename {
    type Reply = GroupChange;
    fn apply(self, conn: &Connection) -> Result<GroupChange, CmdError> {
        let Rename {
            conversation,
            actor,
            title,
        } = self;
        group_member(conn, conversation, actor, true)?;
        let changed = conn
            .prepare_cached(
                "UPDATE conversations SET title = ?1 WHERE id = ?2 AND title IS NOT ?1",
            )?
            .execute(params![title, conversation.0])?;
        if changed == 0 {
            return Ok(GroupChange::default());
        }
        let item = append_event(
            conn,
            conversation,
            Some(actor),
            &event_client_id(),
            &Change::Renamed { title },
        )?;
        Ok(GroupChange {
            events: vec![item],
            ..GroupChange::default()
        })
    }
}

/// Mutes or unmutes a conversation for one member: no notifications of
/// it; its unread count still counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetMuted {
    pub conversation: Id,
    pub user: Id,
    pub muted: bool,
}

impl Command for SetMuted {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        check_member(conn, self.conversation, self.user)?;
        conn.prepare_cached(
            "UPDATE conversation_members SET muted = ? WHERE conversation_id = ? AND user_id = ?",
        )?
        .execute(params![self.muted, self.conversation.0, self.user.0])?;
        Ok(())
    }
}
