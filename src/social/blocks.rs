//! Blocking (`blocks`).
//!
//! A block keeps two users apart whichever of them made it: it ends their
//! friendship and any pending request, and from then on neither can ask
//! the other to be friends or message them directly, and neither sees the
//! other's posts, comments or presence (the read side is in SQL:
//! [`super::VISIBLE`], [`super::COMMENT_VISIBLE`], [`super::NOT_BLOCKED_BY`]).
//! Group conversations both are in stay as they are: a message there is
//! to the group.

use axum::extract::State;
use axum::http::StatusCode;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::friends::{FriendView, user_named, user_page};
use crate::app::AppState;
use crate::auth::User;
use crate::auth::accounts::UserView;
use crate::db::{CmdError, Command, Reply};
use crate::error::{AppError, ErrorBody};
use crate::http::{Json, Page, PageParams, Path, Query};
use crate::ids::{Id, now_ms};
use crate::realtime::protocol::{Presence, ServerFrame};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(block, unblock))
        .routes(routes!(list_blocked))
}

// ---- commands -------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Cmd {
    Block { user: Id, other: Id },
    Unblock { user: Id, other: Id },
}

/// Who blocked whom between `a` and `b`, if either did: the blocker.
pub fn blocker_tx(conn: &Connection, a: Id, b: Id) -> Result<Option<Id>, CmdError> {
    Ok(conn
        .prepare_cached(
            "SELECT blocker_id FROM blocks
             WHERE (blocker_id = ?1 AND blocked_id = ?2) OR (blocker_id = ?2 AND blocked_id = ?1)
             LIMIT 1",
        )?
        .query_row(params![a.0, b.0], |r| r.get(0))
        .optional()?
        .map(Id))
}

impl Cmd {
    pub fn apply(self, conn: &Connection) -> Result<Reply, CmdError> {
        match self {
            Cmd::Block { user, other } => {
                if user == other {
                    return Err(CmdError::Invalid("you cannot block yourself".into()));
                }
                let added = conn
                    .prepare_cached(
                        "INSERT OR IGNORE INTO blocks (blocker_id, blocked_id, created_at)
                         VALUES (?, ?, ?)",
                    )?
                    .execute(params![user.0, other.0, now_ms()])?;
                conn.prepare_cached(
                    "DELETE FROM friendships
                     WHERE (user_id = ?1 AND friend_id = ?2) OR (user_id = ?2 AND friend_id = ?1)",
                )?
                .execute(params![user.0, other.0])?;
                conn.prepare_cached(
                    "DELETE FROM friend_requests
                     WHERE (from_user = ?1 AND to_user = ?2) OR (from_user = ?2 AND to_user = ?1)",
                )?
                .execute(params![user.0, other.0])?;
                Ok(Reply::Changed(added == 1))
            }
            Cmd::Unblock { user, other } => {
                let gone = conn
                    .prepare_cached("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?")?
                    .execute(params![user.0, other.0])?;
                Ok(Reply::Changed(gone == 1))
            }
        }
    }
}

// ---- reads ----------------------------------------------------------------

/// Whether `blocker` has blocked `blocked`.
pub async fn has_blocked(pool: &SqlitePool, blocker: Id, blocked: Id) -> Result<bool, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM blocks WHERE blocker_id = ? AND blocked_id = ?")
            .bind(blocker.0)
            .bind(blocked.0)
            .fetch_optional(pool)
            .await?;
    Ok(found.is_some())
}

/// Tells the live sockets of `a` and `b`, on every node, that each no
/// longer sees the other's presence (after an unfriending or a block).
pub async fn part(state: &AppState, a: &UserView, b: &UserView) {
    for (to, about) in [(a, b), (b, a)] {
        let frame = ServerFrame::Presence {
            user: about.username.clone(),
            status: Presence::Offline,
        }
        .encode();
        state.push(to.id.0, &frame).await;
    }
}

// ---- handlers -------------------------------------------------------------

#[utoipa::path(put, path = "/api/users/{username}/block", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "Blocked (also when already blocked); any friendship or pending request between you is gone"),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Blocking yourself", body = ErrorBody),
    ))]
async fn block(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    let other = set_block(&state, &user, &username, true).await?;
    part(&state, &user.view, &other).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Blocks or unblocks the user named `username`; answers who they are.
async fn set_block(
    state: &AppState,
    user: &User,
    username: &str,
    block: bool,
) -> Result<UserView, AppError> {
    let other = user_named(state, username).await?;
    let (user, other_id) = (user.id, other.id);
    let cmd = if block {
        Cmd::Block {
            user,
            other: other_id,
        }
    } else {
        Cmd::Unblock {
            user,
            other: other_id,
        }
    };
    state.writer.exec(Command::Blocks(cmd)).await?;
    Ok(other)
}

#[utoipa::path(delete, path = "/api/users/{username}/block", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 204, description = "Not blocked by you any more (also when it was not)"),
        (status = 404, body = ErrorBody),
    ))]
async fn unblock(
    State(state): State<AppState>,
    user: User,
    Path(username): Path<String>,
) -> Result<StatusCode, AppError> {
    set_block(&state, &user, &username, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/blocks", tag = "users",
    params(PageParams),
    responses((status = 200, description = "Users you blocked, each with when", body = Page<FriendView>)))]
async fn list_blocked(
    State(state): State<AppState>,
    user: User,
    Query(p): Query<PageParams>,
) -> Result<Json<Page<FriendView>>, AppError> {
    let sql = "SELECT b.blocked_id AS key, b.created_at AS at, u.id, u.username, u.display_name, u.created_at
         FROM blocks b JOIN users u ON u.id = b.blocked_id
         WHERE b.blocker_id = ? AND b.blocked_id < ? ORDER BY b.blocked_id DESC LIMIT ?";
    Ok(Json(
        user_page(&state.read, sql, user.id, p.resolve()?).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().expect("in-memory database");
        conn.pragma_update(None, "foreign_keys", true)
            .expect("in-memory database");
        crate::db::schema::apply(&mut conn).expect("in-memory database");
        for (id, name) in [(1, "ann"), (2, "bob"), (3, "cat")] {
            conn.execute(
                "INSERT INTO users (id, username, display_name, password_hash, created_at)
                 VALUES (?, ?, ?, 'x', 0)",
                params![id, name, name],
            )
            .expect("in-memory database");
        }
        conn
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, [], |r| r.get(0))
            .expect("in-memory database")
    }

    #[test]
    fn a_block_ends_the_friendship_and_requests_both_ways() {
        let conn = db();
        conn.execute_batch(
            "INSERT INTO friendships VALUES (1, 2, 0), (2, 1, 0), (1, 3, 0), (3, 1, 0);
             INSERT INTO friend_requests VALUES (10, 2, 3, 0), (11, 3, 2, 1);",
        )
        .expect("in-memory database");
        let r = Cmd::Block {
            user: Id(2),
            other: Id(1),
        }
        .apply(&conn)
        .expect("in-memory database");
        assert_eq!(r, Reply::Changed(true));
        // ann and bob are apart; ann and cat untouched; counters follow.
        assert_eq!(count(&conn, "SELECT count(*) FROM friendships"), 2);
        assert_eq!(
            count(&conn, "SELECT friend_count FROM users WHERE id = 1"),
            1
        );
        assert_eq!(count(&conn, "SELECT count(*) FROM friend_requests"), 2);
        assert_eq!(
            blocker_tx(&conn, Id(1), Id(2)).expect("in-memory database"),
            Some(Id(2))
        );
        assert_eq!(
            blocker_tx(&conn, Id(2), Id(1)).expect("in-memory database"),
            Some(Id(2))
        );
        assert_eq!(
            blocker_tx(&conn, Id(1), Id(3)).expect("in-memory database"),
            None
        );
        // Again: no change. Only the blocker can lift it.
        let again = Cmd::Block {
            user: Id(2),
            other: Id(1),
        };
        assert_eq!(
            again.apply(&conn).expect("in-memory database"),
            Reply::Changed(false)
        );
        let wrong = Cmd::Unblock {
            user: Id(1),
            other: Id(2),
        };
        assert_eq!(
            wrong.apply(&conn).expect("in-memory database"),
            Reply::Changed(false)
        );
        assert!(
            blocker_tx(&conn, Id(1), Id(2))
                .expect("in-memory database")
                .is_some()
        );
        let lift = Cmd::Unblock {
            user: Id(2),
            other: Id(1),
        };
        assert_eq!(
            lift.apply(&conn).expect("in-memory database"),
            Reply::Changed(true)
        );
        assert_eq!(
            blocker_tx(&conn, Id(1), Id(2)).expect("in-memory database"),
            None
        );
    }

    #[test]
    fn blocking_yourself_or_no_one_is_refused() {
        let conn = db();
        let me = Cmd::Block {
            user: Id(1),
            other: Id(1),
        };
        assert!(matches!(me.apply(&conn), Err(CmdError::Invalid(_))));
        let ghost = Cmd::Block {
            user: Id(1),
            other: Id(99),
        };
        assert!(matches!(ghost.apply(&conn), Err(CmdError::NotFound(_))));
    }
}
