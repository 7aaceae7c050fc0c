//! Writes that can be retried: a request sent with an `Idempotency-Key`
//! (the IETF httpapi draft, as Stripe uses it) is applied once, however
//! often it is sent, on whichever nodes.
//!
//! Why at the writer: a replica that forwarded a write and heard nothing
//! back (a primary hung for 10 s applies it when it wakes) cannot know
//! whether it happened. So the key is recorded in the same transaction as
//! each command of the request ([`Keyed`]): a repeat finds the command's
//! step already there and gets its reply back instead of applying it
//! again. That holds whichever node the repeat reaches, and however the
//! first attempt ended.
//!
//! A repeat runs the request's handler again; its commands answer from
//! their recorded steps, in order, and the ids it makes ([`new_id`]) are
//! the ones the first attempt made, so its response names the same rows:
//! the first outcome, built again from the rows as they are now. Storing
//! whole responses instead would cost a second commit per write for a
//! case that is rare.
//!
//! A command that failed left nothing (its transaction or savepoint was
//! rolled back), and so is not recorded either: its repeat runs again.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::store::{CmdError, Command};
use kith_core::ids::{Id, now_ms};
use kith_core::sync::Unpoisoned;

/// How long a key is remembered: the draft's suggestion, Stripe's figure.
pub const KEEP_MS: i64 = 24 * 60 * 60 * 1000;

/// The longest key accepted (a UUID is 36 characters).
pub const MAX_KEY_LEN: usize = 255;

/// What a key that names another request is answered.
pub const REUSED: &str = "this Idempotency-Key was already used for a different request";

tokio::task_local! {
    static REQUEST: Arc<KeyedRequest>;
}

/// One attempt of a keyed request: what its commands are recorded under.
#[derive(Debug)]
pub struct KeyedRequest {
    /// Whose key it is (`user:ID`): keys of different people never meet.
    scope: String,
    key: String,
    /// The request's method, path and body, hashed: a key sent again with
    /// another request is refused, not answered with the first's outcome.
    fingerprint: String,
    /// The ids the first attempt made, to be made again in order.
    replay: std::sync::Mutex<VecDeque<Id>>,
    /// The ids this attempt has made so far.
    made: std::sync::Mutex<Vec<Id>>,
    /// The next command's number within the request.
    step: AtomicU32,
    /// Set when the writer found that an earlier attempt made other ids
    /// than this one (its steps were not yet visible here when this one
    /// began): the request is run again with those.
    first_ids: std::sync::Mutex<Option<Vec<Id>>>,
    replayed: AtomicBool,
}

impl KeyedRequest {
    pub fn new(scope: String, key: String, fingerprint: String, replay: Vec<Id>) -> Arc<Self> {
        Arc::new(KeyedRequest {
            scope,
            key,
            fingerprint,
            replay: std::sync::Mutex::new(replay.into()),
            made: std::sync::Mutex::default(),
            step: AtomicU32::new(0),
            first_ids: std::sync::Mutex::default(),
            replayed: AtomicBool::new(false),
        })
    }

    /// Runs `f` (the request's handler) as this attempt: every command it
    /// runs through the writer is recorded under the key.
    pub async fn run<F: Future>(self: &Arc<Self>, f: F) -> F::Output {
        REQUEST.scope(self.clone(), f).await
    }

    /// The ids an earlier attempt made, when they differ from this one's
    /// (see [`KeyedRequest::first_ids`]).
    pub fn first_ids(&self) -> Option<Vec<Id>> {
        self.first_ids.write_lock().clone()
    }

    /// Whether any command of this attempt answered from an earlier one.
    pub fn replayed(&self) -> bool {
        self.replayed.load(Ordering::Acquire)
    }

    fn make_id(&self) -> Id {
        let id = self
            .replay
            .write_lock()
            .pop_front()
            .unwrap_or_else(Id::generate);
        self.made.write_lock().push(id);
        id
    }

    /// `cmd` as this request's next step.
    pub(crate) fn wrap<C>(&self, cmd: C) -> Keyed<C> {
        Keyed {
            scope: self.scope.clone(),
            key: self.key.clone(),
            fingerprint: self.fingerprint.clone(),
            step: self.step.fetch_add(1, Ordering::AcqRel),
            ids: self.made.write_lock().clone(),
            at: now_ms(),
            cmd: Box::new(cmd),
        }
    }

    /// The reply of a step, checked: an earlier attempt's answer only
    /// stands if this attempt made the same ids up to it.
    pub(crate) fn accept(
        &self,
        sent: &[Id],
        reply: KeyedReply,
    ) -> Result<serde_json::Value, CmdError> {
        if let Some(first) = reply.first_ids {
            self.replayed.store(true, Ordering::Release);
            if first != sent {
                *self.first_ids.write_lock() = Some(first);
                return Err(CmdError::Unavailable(
                    "an earlier attempt of this request was found; it is answered instead".into(),
                ));
            }
        }
        Ok(reply.reply)
    }
}

/// The keyed request this task runs, if any.
pub(crate) fn current() -> Option<Arc<KeyedRequest>> {
    REQUEST.try_with(Arc::clone).ok()
}

/// A fresh id for a row a request creates. In a keyed request that is
/// repeated, the id its first attempt made at the same point, so that the
/// repeat names the rows the first one created.
pub fn new_id() -> Id {
    REQUEST
        .try_with(|r| r.make_id())
        .unwrap_or_else(|_| Id::generate())
}

/// One command of a keyed request, recorded with it. Generic over the
/// command so that this module needs nothing of the union of commands
/// that carries it (`db::command`), which holds a `Keyed` in turn.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Keyed<C> {
    scope: String,
    key: String,
    fingerprint: String,
    step: u32,
    /// The ids the attempt had made when it sent this command.
    ids: Vec<Id>,
    at: i64,
    cmd: Box<C>,
}

impl<C> Keyed<C> {
    pub(crate) fn ids(&self) -> &[Id] {
        &self.ids
    }
}

/// A keyed command's answer: the command's own reply (as JSON), and, when
/// an earlier attempt applied it, the ids that attempt had made by then.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyedReply {
    reply: serde_json::Value,
    first_ids: Option<Vec<Id>>,
}

fn json<T: Serialize>(v: &T) -> Result<String, CmdError> {
    serde_json::to_string(v).map_err(|e| CmdError::Internal(format!("encoding a step: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, CmdError> {
    serde_json::from_str(s).map_err(|e| CmdError::Internal(format!("reading a step: {e}")))
}

impl<C: Command<Reply = serde_json::Value>> Command for Keyed<C> {
    type Reply = KeyedReply;

    fn apply(self, conn: &Connection) -> Result<KeyedReply, CmdError> {
        let known: Option<String> = conn
            .prepare_cached("SELECT fingerprint FROM idempotency_keys WHERE scope = ? AND key = ?")?
            .query_row(params![self.scope, self.key], |r| r.get(0))
            .optional()?;
        if known.as_ref().is_some_and(|f| *f != self.fingerprint) {
            return Err(CmdError::Invalid(REUSED.into()));
        }
        let done: Option<(String, String)> = conn
            .prepare_cached(
                "SELECT reply, ids FROM idempotency_steps WHERE scope = ? AND key = ? AND step = ?",
            )?
            .query_row(params![self.scope, self.key, self.step], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((reply, ids)) = done {
            return Ok(KeyedReply {
                reply: parse(&reply)?,
                first_ids: Some(parse(&ids)?),
            });
        }
        // Nothing written before the command itself: if it fails, the
        // batch has no trace of the key to roll back (db/writer.rs).
        let reply = self.cmd.apply(conn)?;
        if known.is_none() {
            conn.prepare_cached(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at)
                 VALUES (?, ?, ?, ?)",
            )?
            .execute(params![self.scope, self.key, self.fingerprint, self.at])?;
        }
        conn.prepare_cached(
            "INSERT INTO idempotency_steps (scope, key, step, reply, ids) VALUES (?, ?, ?, ?, ?)",
        )?
        .execute(params![
            self.scope,
            self.key,
            self.step,
            json(&reply)?,
            json(&self.ids)?
        ])?;
        Ok(KeyedReply {
            reply,
            first_ids: None,
        })
    }
}

/// Forgets keys older than [`KEEP_MS`] (their steps go with them).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PruneKeys {
    pub now: i64,
}

impl Command for PruneKeys {
    type Reply = usize;
    fn apply(self, conn: &Connection) -> Result<usize, CmdError> {
        Ok(conn
            .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?")?
            .execute([self.now - KEEP_MS])?)
    }
}

/// What is known here of a key's earlier attempts: its fingerprint, and
/// the ids they made, up to their last recorded step.
#[derive(Debug)]
pub struct Earlier {
    pub fingerprint: String,
    pub ids: Vec<Id>,
}

pub async fn earlier(pool: &SqlitePool, scope: &str, key: &str) -> anyhow::Result<Option<Earlier>> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT k.fingerprint,
                (SELECT s.ids FROM idempotency_steps s
                  WHERE s.scope = k.scope AND s.key = k.key ORDER BY s.step DESC LIMIT 1)
           FROM idempotency_keys k WHERE k.scope = ? AND k.key = ?",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => None,
        Some((fingerprint, ids)) => Some(Earlier {
            fingerprint,
            ids: match ids {
                Some(s) => serde_json::from_str(&s)?,
                None => vec![],
            },
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::command::AnyCommand;
    use crate::db::{apply_alone, open_writer_connection};
    use crate::store::users::CreateUser;

    fn step(fingerprint: &str, username: &str) -> Keyed<AnyCommand> {
        let cmd = CreateUser {
            id: Id::generate(),
            username: username.into(),
            display_name: username.into(),
            password_hash: "x".into(),
            invite: None,
            pending: None,
        };
        Keyed {
            scope: "user:1".into(),
            key: "k".into(),
            fingerprint: fingerprint.into(),
            step: 0,
            ids: vec![Id(7)],
            at: 1_000,
            cmd: Box::new(cmd.into()),
        }
    }

    #[test]
    fn a_step_applies_once_until_its_key_is_forgotten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = open_writer_connection(&dir.path().join("k.db")).expect("open");
        let first = apply_alone(&conn, step("f", "ann")).expect("first");
        assert!(first.first_ids.is_none());
        // Applied again, the user would be a second `ann` and a conflict.
        let again = apply_alone(&conn, step("f", "ann")).expect("repeat");
        assert_eq!(again.first_ids, Some(vec![Id(7)]));
        assert_eq!(again.reply, first.reply);
        let other = apply_alone(&conn, step("g", "bea"));
        assert_eq!(other.err(), Some(CmdError::Invalid(REUSED.into())));

        let kept = apply_alone(
            &conn,
            PruneKeys {
                now: 1_000 + KEEP_MS,
            },
        )
        .expect("prune");
        assert_eq!(kept, 0, "a key is kept for 24 hours");
        let gone = apply_alone(
            &conn,
            PruneKeys {
                now: 1_001 + KEEP_MS,
            },
        )
        .expect("prune");
        assert_eq!(gone, 1);
        let steps: i64 = conn
            .query_row("SELECT COUNT(*) FROM idempotency_steps", [], |r| r.get(0))
            .expect("count");
        assert_eq!(steps, 0, "its steps went with it");
        // Forgotten, the key is a new request.
        let late = apply_alone(&conn, step("f", "ann"));
        assert!(matches!(late, Err(CmdError::Conflict(_))), "{late:?}");
    }
}
