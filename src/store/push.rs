//! Writes for notifications that reach people away from the app: the
//! browsers' push subscriptions, the preferences per kind and channel,
//! the push deliveries a stored notification starts ([`route_tx`], in the
//! transaction that stored it), and the email digest ([`QueueDigests`]).

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::jobs::{NewJob, enqueue_at_tx};
use super::mail::{Mail, queue_tx};
use super::{CmdError, Command};
use kith_core::ids::{Id, now_ms};
use kith_core::notify_prefs::{Channel, Group, default_on};

/// The job kind that delivers one notification to one browser.
pub const PUSH_JOB: &str = "web_push";

/// Subscriptions per person: a phone, a laptop, a work machine and a few
/// browsers on each; more is a script, not a person.
pub const MAX_SUBSCRIPTIONS: i64 = 10;

/// A chat message is pushed only if still unread this long after it came:
/// someone with the thread open reads it within a second or two, and a
/// push then would be a second ring for the same message.
pub const CHAT_PUSH_DELAY_MS: i64 = 5_000;

/// Notifications per digest mail: past this the mail says how many more.
const DIGEST_LINES: i64 = 20;

/// A person's choice for a kind and channel (`?1` user, `?2` kind, `?3`
/// channel), when they made one; [`default_on`] otherwise. For the
/// writer's connection and the read pool alike.
pub const CHOSEN: &str =
    "SELECT enabled <> 0 FROM notification_prefs WHERE user_id = ?1 AND kind = ?2 AND channel = ?3";

/// Whether `user` wants `group` on `channel` (their choice, or the default).
pub fn wants(
    conn: &Connection,
    user: Id,
    group: Group,
    channel: Channel,
) -> Result<bool, CmdError> {
    let chosen: Option<bool> = conn
        .prepare_cached(CHOSEN)?
        .query_row(params![user.0, group.as_str(), channel.as_str()], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(chosen.unwrap_or_else(|| default_on(group, channel)))
}

/// What a push job delivers: notification `notification` to subscription
/// `subscription`; for a chat message, `seq` is the conversation's last
/// item when it was stored (the push is skipped once the member has read
/// that far).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPayload {
    /// The notification; none for a message to a member who was connected
    /// (they got it live, and no notification is stored for it).
    #[serde(default)]
    pub notification: Option<Id>,
    pub subscription: Id,
    #[serde(default)]
    pub seq: Option<i64>,
    /// For a message without a notification: where, and who sent it.
    #[serde(default)]
    pub conversation: Option<Id>,
    #[serde(default)]
    pub actor: Option<Id>,
}

/// After notification `id` (of `kind`, for `user`, about `subject`) is
/// stored: with the app channel off it is stored read (no badge, nothing
/// live); with push on, one delivery job per subscription, unique per
/// notification and browser, so that whichever node runs it, it is one
/// job. Answers whether the app channel is on.
pub fn route_tx(
    conn: &Connection,
    id: Id,
    user: Id,
    kind: &str,
    subject: Id,
) -> Result<bool, CmdError> {
    let Some(group) = Group::of_kind(kind) else {
        return Ok(true);
    };
    let app = wants(conn, user, group, Channel::App)?;
    if !app {
        conn.prepare_cached("UPDATE notifications SET read_at = ? WHERE id = ?")?
            .execute(params![now_ms(), id.0])?;
    }
    if !wants(conn, user, group, Channel::Push)? {
        return Ok(app);
    }
    let chat = matches!(kind, "message" | "chat_mention");
    let seq: Option<i64> = if chat {
        conn.prepare_cached("SELECT last_seq FROM conversations WHERE id = ?")?
            .query_row([subject.0], |r| r.get(0))
            .optional()?
    } else {
        None
    };
    let run_at = now_ms() + if chat { CHAT_PUSH_DELAY_MS } else { 0 };
    queue_pushes_tx(
        conn,
        user,
        run_at,
        |sub| PushPayload {
            notification: Some(id),
            subscription: sub,
            seq,
            conversation: None,
            actor: None,
        },
        |sub| format!("{PUSH_JOB}:{}:{}", id.0, sub.0),
    )?;
    Ok(app)
}

/// A message `seq` from `actor` reached `user` live (they were connected):
/// pushed after [`CHAT_PUSH_DELAY_MS`] if still unread then, once per
/// device until they read the conversation (a second message while the
/// first is unread rings nothing new), unless the conversation is muted
/// or they want no push for messages. Answers the jobs queued.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueueChatPush {
    pub user: Id,
    pub conversation: Id,
    pub seq: i64,
    pub actor: Id,
}

impl Command for QueueChatPush {
    type Reply = usize;
    fn apply(self, conn: &Connection) -> Result<usize, CmdError> {
        let member: Option<(bool, i64)> = conn
            .prepare_cached(
                "SELECT muted <> 0, last_read_seq FROM conversation_members
                 WHERE conversation_id = ? AND user_id = ? AND left_seq IS NULL",
            )?
            .query_row(params![self.conversation.0, self.user.0], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let Some((false, read)) = member else {
            return Ok(0);
        };
        let muted_sender = conn
            .prepare_cached("SELECT 1 FROM mutes WHERE muter_id = ? AND muted_id = ?")?
            .exists(params![self.user.0, self.actor.0])?;
        if read >= self.seq
            || muted_sender
            || !wants(conn, self.user, Group::Message, Channel::Push)?
        {
            return Ok(0);
        }
        let QueueChatPush {
            user,
            conversation,
            seq,
            actor,
        } = self;
        queue_pushes_tx(
            conn,
            user,
            now_ms() + CHAT_PUSH_DELAY_MS,
            |sub| PushPayload {
                notification: None,
                subscription: sub,
                seq: Some(seq),
                conversation: Some(conversation),
                actor: Some(actor),
            },
            // One per device per stretch of unread messages.
            |sub| format!("{PUSH_JOB}:chat:{}:{}:{read}", conversation.0, sub.0),
        )
    }
}

/// Queues a delivery job due at `run_at` for each of `user`'s browsers,
/// with the payload and idempotency key `payload` and `key` make for it;
/// answers how many.
fn queue_pushes_tx(
    conn: &Connection,
    user: Id,
    run_at: i64,
    payload: impl Fn(Id) -> PushPayload,
    key: impl Fn(Id) -> String,
) -> Result<usize, CmdError> {
    let subscriptions: Vec<i64> = conn
        .prepare_cached("SELECT id FROM push_subscriptions WHERE user_id = ?")?
        .query_map([user.0], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for &sub in &subscriptions {
        let sub = Id(sub);
        enqueue_at_tx(
            conn,
            &NewJob {
                id: Id::generate(),
                kind: PUSH_JOB.into(),
                payload: serde_json::to_string(&payload(sub))
                    .map_err(|e| CmdError::Internal(e.to_string()))?,
                // Before bulk work (transcodes), after mail.
                priority: 5,
                // The queue's doubling backoff over 6 tries: about half an
                // hour of a push service being away, within a push's TTL.
                max_attempts: 6,
                idempotency_key: Some(key(sub)),
                owner: Some(user),
            },
            run_at,
        )?;
    }
    Ok(subscriptions.len())
}

/// Stores a browser's subscription for `user`. The same endpoint again
/// updates its keys (a browser renews them); an endpoint another account
/// had moves to this one (the browser now belongs to whoever subscribed
/// last on it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subscribe {
    pub id: Id,
    pub user: Id,
    /// The session turning it on (it ends with the session).
    pub session: Option<String>,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Subscribed {
    pub id: Id,
    /// False when the endpoint was known.
    pub created: bool,
}

impl Command for Subscribe {
    type Reply = Subscribed;
    fn apply(self, conn: &Connection) -> Result<Subscribed, CmdError> {
        let existing: Option<(i64, i64)> = conn
            .prepare_cached("SELECT id, user_id FROM push_subscriptions WHERE endpoint = ?")?
            .query_row([&self.endpoint], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if existing.is_none_or(|(_, owner)| owner != self.user.0) {
            let count: i64 = conn
                .prepare_cached("SELECT count(*) FROM push_subscriptions WHERE user_id = ?")?
                .query_row([self.user.0], |r| r.get(0))?;
            if count >= MAX_SUBSCRIPTIONS {
                return Err(CmdError::TooLarge(format!(
                    "at most {MAX_SUBSCRIPTIONS} devices may get push notifications; turn one off first"
                )));
            }
        }
        match existing {
            Some((id, _)) => {
                conn.prepare_cached(
                    "UPDATE push_subscriptions SET user_id = ?, session_id = ?, p256dh = ?, auth = ?
                     WHERE id = ?",
                )?
                .execute(params![self.user.0, self.session, self.p256dh, self.auth, id])?;
                Ok(Subscribed {
                    id: Id(id),
                    created: false,
                })
            }
            None => {
                conn.prepare_cached(
                    "INSERT INTO push_subscriptions
                       (id, user_id, session_id, endpoint, p256dh, auth, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    self.id.0,
                    self.user.0,
                    self.session,
                    self.endpoint,
                    self.p256dh,
                    self.auth,
                    now_ms()
                ])?;
                Ok(Subscribed {
                    id: self.id,
                    created: true,
                })
            }
        }
    }
}

/// Removes `user`'s subscription of `endpoint`; answers whether there was one.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Unsubscribe {
    pub user: Id,
    pub endpoint: String,
}

impl Command for Unsubscribe {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        Ok(conn
            .prepare_cached("DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint = ?")?
            .execute(params![self.user.0, self.endpoint])?
            > 0)
    }
}

/// Removes a subscription the push service no longer knows (404 or 410).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DropSubscription {
    pub id: Id,
}

impl Command for DropSubscription {
    type Reply = bool;
    fn apply(self, conn: &Connection) -> Result<bool, CmdError> {
        Ok(conn
            .prepare_cached("DELETE FROM push_subscriptions WHERE id = ?")?
            .execute([self.id.0])?
            > 0)
    }
}

/// Sets some of `user`'s preferences; a choice equal to the default is
/// stored all the same (the default may change; the choice should not).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SetPrefs {
    pub user: Id,
    pub prefs: Vec<(Group, Channel, bool)>,
}

impl Command for SetPrefs {
    type Reply = ();
    fn apply(self, conn: &Connection) -> Result<(), CmdError> {
        let mut set = conn.prepare_cached(
            "INSERT INTO notification_prefs (user_id, kind, channel, enabled) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id, kind, channel) DO UPDATE SET enabled = ?4",
        )?;
        for (g, c, on) in self.prefs {
            set.execute(params![self.user.0, g.as_str(), c.as_str(), on])?;
        }
        Ok(())
    }
}

/// Mails each person with a verified address one digest of what stayed
/// unread since before `older_than` (ms) and was not in a digest yet, of
/// the kinds they want by email; marks those notifications emailed in the
/// same transaction, so a crash or a second node running it sends no
/// second mail. At most `users` people per run. Answers the mails queued.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueueDigests {
    pub older_than: i64,
    pub users: i64,
    /// Where the mail's link points (`--public-url`).
    pub base_url: Option<String>,
}

impl Command for QueueDigests {
    type Reply = usize;
    fn apply(self, conn: &Connection) -> Result<usize, CmdError> {
        let due: Vec<(i64, String, String)> = conn
            .prepare_cached(
                "SELECT u.id, u.email, u.username FROM users u
                 WHERE u.email IS NOT NULL AND EXISTS (
                   SELECT 1 FROM notifications n WHERE n.user_id = u.id AND n.read_at IS NULL
                     AND n.emailed_at IS NULL AND n.created_at <= ?1)
                 LIMIT ?2",
            )?
            .query_map(params![self.older_than, self.users], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<_, _>>()?;
        let mut queued = 0;
        for (user, email, username) in due {
            let rows: Vec<(i64, String, Option<String>)> = conn
                .prepare_cached(
                    "SELECT n.id, n.kind, a.username FROM notifications n
                     LEFT JOIN users a ON a.id = n.actor_id
                     WHERE n.user_id = ?1 AND n.read_at IS NULL AND n.emailed_at IS NULL
                       AND n.created_at <= ?2
                     ORDER BY n.id",
                )?
                .query_map(params![user, self.older_than], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut lines = Vec::new();
            let mut last = 0;
            for (id, kind, actor) in &rows {
                last = *id;
                let wanted = match Group::of_kind(kind) {
                    Some(g) => wants(conn, Id(user), g, Channel::Email)?,
                    None => false,
                };
                if wanted {
                    lines.push(kith_core::notify_text::line(kind, actor.as_deref()));
                }
            }
            // Every one looked at is done with, wanted or not: the next
            // run starts after them.
            conn.prepare_cached(
                "UPDATE notifications SET emailed_at = ?3
                 WHERE user_id = ?1 AND read_at IS NULL AND emailed_at IS NULL AND id <= ?2",
            )?
            .execute(params![user, last, now_ms()])?;
            if lines.is_empty() {
                continue;
            }
            let mail = Mail {
                to: email,
                subject: kith_core::notify_text::digest_subject(lines.len()),
                text: kith_core::notify_text::digest_text(
                    &username,
                    &lines,
                    DIGEST_LINES as usize,
                    self.base_url.as_deref(),
                ),
                message_id: format!("<digest-{user}-{last}@kith>"),
            };
            queue_tx(
                conn,
                &mail,
                &format!("digest:{user}:{last}"),
                Some(Id(user)),
            )?;
            queued += 1;
        }
        Ok(queued)
    }
}
