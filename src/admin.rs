//! Operators' tools: `kith admin user list|ban|unban|make-admin|revoke-admin`
//! on the database file (beside a running server: its writer and this one
//! take turns through SQLite's lock), and the ban watcher every node runs.
//!
//! A ban is one transaction ([`Ban`]): it sets `users.banned_at`
//! and ends every session of the account, so its cookies stop working on
//! every node at once. Its live sockets are closed by each node's
//! [`watch_bans`], which polls the shared database for bans newer than the
//! last one it saw: the command line needs no way to reach the servers, and
//! a node that starts later has no sockets of the account to close.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use moka::future::Cache;
use rusqlite::{Connection, DatabaseName, OptionalExtension};
use sqlx::SqlitePool;

use crate::auth::accounts::UserView;
use crate::cluster::litefs::LiteFs;
use crate::config::{AdminCmd, AdminUserCmd};
use crate::realtime::Hub;
use crate::realtime::hub::BANNED;
use crate::store::moderation::{Ban, SetAdmin};
use crate::store::tokens::IssueReset;
use crate::store::users::CreateUser;
use crate::store::{CmdError, Command};
use crate::tasks::Tasks;
use kith_core::ids::{Id, format_ms};
use kith_core::text::clip;

/// How often every node looks for new bans.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Bans handled per poll; more wait for the next one.
const WATCH_BATCH: i64 = 500;

/// How much of a display name `list` shows.
const NAME_WIDTH: usize = 24;

/// Runs the command; returns what to print.
pub fn run(db: &Path, action: AdminCmd) -> anyhow::Result<String> {
    let conn = open(db)?;
    let AdminCmd::User { action } = action;
    match action {
        AdminUserCmd::List {
            banned,
            admins,
            limit,
            ..
        } => list(&conn, banned, admins, limit),
        AdminUserCmd::Ban { user, .. } => {
            change(&conn, &user, BANNED_NOW, |user| Ban { user, banned: true })
        }
        AdminUserCmd::Unban { user, .. } => {
            change(&conn, &user, "is no longer banned", |user| Ban {
                user,
                banned: false,
            })
        }
        AdminUserCmd::MakeAdmin { user, .. } => change(&conn, &user, "is now an admin", |user| {
            SetAdmin { user, admin: true }
        }),
        AdminUserCmd::RevokeAdmin { user, .. } => {
            change(&conn, &user, "is no longer an admin", |user| SetAdmin {
                user,
                admin: false,
            })
        }
        AdminUserCmd::Create {
            username,
            display_name,
            admin,
            public_url,
            ..
        } => create(&conn, &username, display_name, admin, &public_url),
        AdminUserCmd::ResetLink {
            user, public_url, ..
        } => {
            let (id, name) = find_user(&conn, &user)?;
            let link = reset_link(&conn, &name, id, &public_url)?;
            Ok(format!(
                "a one-time link for {name} to set a new password (valid for an hour):\n{link}\n"
            ))
        }
    }
}

/// `kith admin user create`: the account gets a password nobody knows
/// (so it signs in nowhere) and its owner a link to choose one.
fn create(
    conn: &Connection,
    username: &str,
    display_name: Option<String>,
    admin: bool,
    public_url: &str,
) -> anyhow::Result<String> {
    crate::auth::accounts::check_username(username).map_err(|e| anyhow!("{e}"))?;
    let display_name = match display_name {
        Some(d) => crate::auth::accounts::clean_display_name(&d).map_err(|e| anyhow!("{e}"))?,
        None => username.to_owned(),
    };
    let unknowable = crate::auth::recovery::new_token().0;
    let password_hash = crate::auth::password::hash_blocking(&unknowable)?;
    let id = crate::db::keyed::new_id();
    crate::db::apply_alone(
        conn,
        CreateUser {
            id,
            username: username.to_owned(),
            display_name,
            password_hash,
            invite: None,
            pending: None,
        },
    )
    .map_err(|e| match e {
        CmdError::Conflict(why) => anyhow!("{why}"),
        other => anyhow!("{other}"),
    })?;
    if admin {
        apply(
            conn,
            username,
            SetAdmin {
                user: id,
                admin: true,
            },
        )?;
    }
    let link = reset_link(conn, username, id, public_url)?;
    let what = if admin {
        "an admin account"
    } else {
        "an account"
    };
    Ok(format!(
        "{username} is {what}; send them this one-time link to set a password (valid for an hour):\n{link}\n"
    ))
}

/// A new reset token for `user`, as a link under `public_url`.
fn reset_link(conn: &Connection, name: &str, user: Id, public_url: &str) -> anyhow::Result<String> {
    let (token, token_hash) = crate::auth::recovery::new_token();
    apply(
        conn,
        name,
        IssueReset {
            user,
            token_hash,
            mail: None,
        },
    )?;
    Ok(format!("{public_url}/#/reset-password/{token}"))
}

const BANNED_NOW: &str = "is banned: signed out everywhere, and cannot sign in";

/// Applies to the user named `who` the command `cmd` makes; says `done`.
fn change<C: Command>(
    conn: &Connection,
    who: &str,
    done: &str,
    cmd: impl FnOnce(Id) -> C,
) -> anyhow::Result<String> {
    let (id, name) = find_user(conn, who)?;
    apply(conn, &name, cmd(id))?;
    Ok(format!("{name} {done}\n"))
}

const ON_THE_PRIMARY: &str = "run `kith admin` on the primary";

/// Opens the database for writing, refusing a missing file (a mistyped
/// path would otherwise become a new, empty database) and a read-only one.
fn open(db: &Path) -> anyhow::Result<Connection> {
    if !db.is_file() {
        bail!("no database at {} (pass --db or --data-dir)", db.display());
    }
    // A LiteFS mount names the primary in `.primary` on replicas only.
    let mount = db.parent().unwrap_or(Path::new("."));
    if let Some(primary) = LiteFs::new(mount, db).primary() {
        bail!("this database is a LiteFS replica (the primary is {primary}): {ON_THE_PRIMARY}");
    }
    let conn = crate::db::open_writer_connection(db).map_err(|e| {
        match e.downcast_ref::<rusqlite::Error>() {
            Some(e) if is_read_only(e) => read_only(db),
            _ => anyhow!("opening {}: {e}", db.display()),
        }
    })?;
    if conn.is_readonly(DatabaseName::Main)? {
        return Err(read_only(db));
    }
    Ok(conn)
}

fn read_only(db: &Path) -> anyhow::Error {
    anyhow!(
        "the database at {} is read-only (a replica?): {ON_THE_PRIMARY}",
        db.display()
    )
}

fn is_read_only(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly)
}

/// The user named `who`: a username, or else a user id.
fn find_user(conn: &Connection, who: &str) -> anyhow::Result<(Id, String)> {
    let by_name = conn
        .prepare_cached("SELECT id, username FROM users WHERE username = ?")?
        .query_row([who], |r| Ok((Id(r.get(0)?), r.get(1)?)))
        .optional()?;
    if let Some(found) = by_name {
        return Ok(found);
    }
    let id = who.parse::<Id>().ok();
    if let Some(id) = id {
        let by_id = conn
            .prepare_cached("SELECT username FROM users WHERE id = ?")?
            .query_row([id.0], |r| r.get(0))
            .optional()?;
        if let Some(name) = by_id {
            return Ok((id, name));
        }
    }
    if id.is_none() && crate::auth::accounts::check_username(who).is_err() {
        bail!("{who:?} is neither a username nor a user id");
    }
    bail!("no user {who:?}")
}

/// Runs `cmd` in a transaction of its own, as the server's writer would.
fn apply<C: Command>(conn: &Connection, name: &str, cmd: C) -> anyhow::Result<()> {
    crate::db::apply_alone(conn, cmd)
        .map(drop)
        .map_err(|e| match e {
            CmdError::Conflict(why) => anyhow!("{name} is {why}"),
            CmdError::NotFound(_) => anyhow!("no user {name:?}"),
            CmdError::Internal(msg) if msg.contains("readonly") => {
                anyhow!("the database is read-only (a replica?): {ON_THE_PRIMARY}")
            }
            other => anyhow!("{other}"),
        })
}

fn list(conn: &Connection, banned: bool, admins: bool, limit: i64) -> anyhow::Result<String> {
    let mut out = format!(
        "{:<14} {:<20} {:<NAME_WIDTH$} {:<24} {:<5} {:<24} {:>6} {:>7}\n",
        "id", "username", "display name", "created", "admin", "banned", "posts", "friends"
    );
    let mut stmt = conn.prepare(
        "SELECT id, username, display_name, created_at, is_admin, banned_at, post_count,
                friend_count
         FROM users
         WHERE (?1 = 0 OR banned_at IS NOT NULL) AND (?2 = 0 OR is_admin <> 0)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![banned, admins, limit.clamp(1, 100_000)],
        |r| {
            Ok((
                Id(r.get(0)?),
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, i64>(7)?,
            ))
        },
    )?;
    for row in rows {
        let (id, username, display, created, admin, banned_at, posts, friends) = row?;
        out.push_str(&format!(
            "{:<14} {:<20} {:<NAME_WIDTH$} {:<24} {:<5} {:<24} {:>6} {:>7}\n",
            id.to_string(),
            username,
            clip(&display, NAME_WIDTH),
            format_ms(created),
            if admin { "yes" } else { "-" },
            banned_at.map(format_ms).unwrap_or_else(|| "-".into()),
            posts,
            friends
        ));
    }
    Ok(out)
}

/// The newest ban's time, 0 when there is none.
async fn latest_ban(read: &SqlitePool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT coalesce(max(banned_at), 0) FROM users WHERE banned_at IS NOT NULL")
        .fetch_one(read)
        .await
}

/// Users banned after `after`, oldest ban first: (user, banned_at).
async fn bans_after(read: &SqlitePool, after: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT id, banned_at FROM users WHERE banned_at > ? ORDER BY banned_at LIMIT ?")
        .bind(after)
        .bind(WATCH_BATCH)
        .fetch_all(read)
        .await
}

/// What the ban watcher uses of its node.
pub struct BanWatch {
    pub read: SqlitePool,
    /// Whose sockets to close.
    pub hub: Arc<Hub>,
    /// Whose cached profiles to drop.
    pub users: Cache<Id, Arc<UserView>>,
    pub tasks: Tasks,
}

/// Closes the sockets of every user banned while this node runs, and drops
/// their cached profiles, polling the database every [`WATCH_EVERY`] until
/// the node stops.
///
/// Bans made before the node started are skipped: it has no sockets of
/// theirs. Each ban's `banned_at` is later than every earlier ban's (see
/// [`Ban`]), so "newer than the last seen" misses none.
pub async fn watch_bans(state: BanWatch) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // `None` until the database has answered once.
    let mut seen: Option<i64> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.tasks.stopping() => return,
        }
        let Some(after) = seen else {
            match latest_ban(&state.read).await {
                Ok(at) => seen = Some(at),
                Err(e) => tracing::warn!(error = %e, "reading bans"),
            }
            continue;
        };
        match bans_after(&state.read, after).await {
            Ok(bans) => {
                for (user, at) in bans {
                    let user = Id(user);
                    tracing::info!(%user, "account banned: closing its connections");
                    state.hub.kick_user(user, BANNED);
                    state.users.invalidate(&user).await;
                    seen = Some(at.max(after));
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading bans"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = crate::db::open_writer_connection(&dir.path().join("k.db")).expect("open");
        (dir, conn)
    }

    fn add_user(conn: &Connection, name: &str) -> Id {
        let id = crate::db::keyed::new_id();
        crate::store::users::CreateUser {
            id,
            username: name.into(),
            display_name: name.into(),
            password_hash: "x".into(),
            invite: None,
            pending: None,
        }
        .apply(conn)
        .expect("create user");
        id
    }

    #[test]
    fn users_are_found_by_name_or_id() {
        let (_dir, conn) = db();
        let id = add_user(&conn, "alice");
        assert_eq!(find_user(&conn, "alice").expect("by name").0, id);
        assert_eq!(find_user(&conn, "ALICE").expect("any case").0, id);
        let by_id = find_user(&conn, &id.to_string()).expect("by id");
        assert_eq!(by_id, (id, "alice".into()));
        let e = find_user(&conn, "bob").expect_err("unknown");
        assert_eq!(e.to_string(), r#"no user "bob""#);
        let e = find_user(&conn, "no such!").expect_err("bad");
        assert!(
            e.to_string().contains("neither a username nor a user id"),
            "{e}"
        );
    }

    #[test]
    fn each_ban_is_later_than_every_other() {
        let (_dir, conn) = db();
        let (a, b) = (add_user(&conn, "alice"), add_user(&conn, "bob"));
        // A ban stamped far ahead, as by a host whose clock runs fast.
        conn.execute(
            "UPDATE users SET banned_at = 9000000000000 WHERE id = ?",
            [a.0],
        )
        .expect("ban ahead");
        apply(
            &conn,
            "bob",
            Ban {
                user: b,
                banned: true,
            },
        )
        .expect("ban");
        let at: i64 = conn
            .query_row("SELECT banned_at FROM users WHERE id = ?", [b.0], |r| {
                r.get(0)
            })
            .expect("banned_at");
        assert_eq!(at, 9_000_000_000_001);
        let e = apply(
            &conn,
            "bob",
            Ban {
                user: b,
                banned: true,
            },
        )
        .expect_err("twice");
        assert_eq!(e.to_string(), "bob is already banned");
        apply(
            &conn,
            "bob",
            Ban {
                user: b,
                banned: false,
            },
        )
        .expect("unban");
        let e = apply(
            &conn,
            "bob",
            Ban {
                user: b,
                banned: false,
            },
        )
        .expect_err("not banned");
        assert_eq!(e.to_string(), "bob is not banned");
        let e = apply(
            &conn,
            "x",
            Ban {
                user: Id(1),
                banned: true,
            },
        )
        .expect_err("no user");
        assert_eq!(e.to_string(), r#"no user "x""#);
    }

    #[test]
    fn the_watchers_query_uses_the_index() {
        let (_dir, conn) = db();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id, banned_at FROM users WHERE banned_at > ?
                 ORDER BY banned_at LIMIT ?",
                rusqlite::params![0, WATCH_BATCH],
                |r| r.get(3),
            )
            .expect("plan");
        assert!(plan.contains("users_banned"), "{plan}");
    }
}
