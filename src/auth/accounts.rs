//! Reads of the `users` table, and the account rules (what a valid
//! username, display name and password are).

use serde::Serialize;
use sqlx::SqlitePool;
use std::sync::LazyLock;

use crate::db::reader::{ReadError, Reader};
use utoipa::ToSchema;

use crate::error::AppError;
use kith_core::ids::{Id, format_ms};
use kith_core::media::Avatar;

/// A user as others see them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Id,
    pub username: String,
    pub display_name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Their picture, or the generated default.
    pub avatar: Avatar,
}

impl UserView {
    /// From a row's columns (`avatar_id` is the ready avatar, if any).
    pub fn new(
        id: i64,
        username: String,
        display_name: String,
        created_at: i64,
        avatar_id: Option<i64>,
    ) -> UserView {
        UserView {
            id: Id(id),
            username,
            display_name,
            created_at: Timestamp(created_at),
            avatar: Avatar::of(Id(id), avatar_id.map(Id)),
        }
    }
}

/// A user's columns as joined under the alias `a` (a post's or a
/// comment's author, a notification's actor), read back by [`Author`]; a
/// macro, so that queries can `concat!` it.
#[macro_export]
macro_rules! author_columns {
    () => {
        "a.id AS a_id, a.username AS a_username, a.display_name AS a_display_name, \
         a.created_at AS a_created_at, a.avatar_id AS a_avatar_id"
    };
}
pub use author_columns;

/// The [`author_columns`] of a row.
#[derive(Clone, sqlx::FromRow)]
pub struct Author {
    a_id: i64,
    a_username: String,
    a_display_name: String,
    a_created_at: i64,
    a_avatar_id: Option<i64>,
}

impl Author {
    /// Whether the [`author_columns`] of row `r`, from column `at`, hold
    /// exactly these values; read in place, with no copies.
    pub fn same_as(&self, r: &libsql::Row, at: i32) -> libsql::Result<bool> {
        Ok(r.get::<i64>(at)? == self.a_id
            && r.get_str(at + 1)? == self.a_username
            && r.get_str(at + 2)? == self.a_display_name
            && r.get::<i64>(at + 3)? == self.a_created_at
            && r.get::<Option<i64>>(at + 4)? == self.a_avatar_id)
    }

    /// The bytes its text holds on the heap, for a cache's weight.
    pub fn heap_bytes(&self) -> usize {
        self.a_username.len() + self.a_display_name.len()
    }

    /// The [`author_columns`] of a row read through libsql, from column `at`.
    pub fn read(r: &libsql::Row, at: i32) -> libsql::Result<Author> {
        Ok(Author {
            a_id: r.get(at)?,
            a_username: r.get(at + 1)?,
            a_display_name: r.get(at + 2)?,
            a_created_at: r.get(at + 3)?,
            a_avatar_id: r.get(at + 4)?,
        })
    }
}

impl From<Author> for UserView {
    fn from(a: Author) -> Self {
        UserView::new(
            a.a_id,
            a.a_username,
            a.a_display_name,
            a.a_created_at,
            a.a_avatar_id,
        )
    }
}

impl<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> for UserView {
    fn from_row(row: &'r sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(UserView::new(
            row.try_get("id")?,
            row.try_get("username")?,
            row.try_get("display_name")?,
            row.try_get("created_at")?,
            row.try_get("avatar_id")?,
        ))
    }
}

/// Unix milliseconds, serialized as RFC 3339.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp(pub i64);

impl From<i64> for Timestamp {
    fn from(ms: i64) -> Self {
        Timestamp(ms)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_ms(self.0))
    }
}

pub const USER_COLUMNS: &str = "id, username, display_name, created_at, avatar_id";

/// A user by id, through the reader: the signed-in user's view is read
/// this way whenever the 10 s cache of it lapses, once per active user.
pub fn by_id(db: &Reader, id: Id) -> Result<Option<UserView>, ReadError> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"));
    db.first(&SQL, [id.0], |r| Author::read(r, 0).map(UserView::from))
}

pub async fn by_username(
    pool: &SqlitePool,
    username: &str,
) -> Result<Option<UserView>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username = ?"
    ))
    .bind(username)
    .fetch_optional(pool)
    .await
}

/// What a login attempt checks.
pub struct Credentials {
    pub id: Id,
    pub password_hash: String,
    /// Banned accounts cannot sign in.
    pub banned: bool,
    /// Accounts awaiting approval cannot sign in yet.
    pub pending: bool,
}

/// The id, password hash and ban of an account, for a login attempt.
pub async fn credentials(
    pool: &SqlitePool,
    username: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    let row: Option<(i64, String, bool, bool)> = sqlx::query_as(
        "SELECT id, password_hash, banned_at IS NOT NULL, status = 'pending'
         FROM users WHERE username = ?",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, password_hash, banned, pending)| Credentials {
        id: Id(id),
        password_hash,
        banned,
        pending,
    }))
}

/// Whether the account is banned; `None` when it does not exist.
pub async fn banned(pool: &SqlitePool, id: Id) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar("SELECT banned_at IS NOT NULL FROM users WHERE id = ?")
        .bind(id.0)
        .fetch_optional(pool)
        .await
}

/// Whether `id` may remove anyone's posts and comments.
pub async fn is_admin(pool: &SqlitePool, id: Id) -> Result<bool, sqlx::Error> {
    let admin: Option<bool> = sqlx::query_scalar("SELECT is_admin <> 0 FROM users WHERE id = ?")
        .bind(id.0)
        .fetch_optional(pool)
        .await?;
    Ok(admin.unwrap_or(false))
}

/// The counters shown on a profile: (friends, posts).
pub async fn counts(pool: &SqlitePool, id: Id) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as("SELECT friend_count, post_count FROM users WHERE id = ?")
        .bind(id.0)
        .fetch_one(pool)
        .await
}

/// 3 to 32 characters: ASCII letters, digits, `_` and `.`, starting with a
/// letter or digit. Unique regardless of case.
pub fn check_username(name: &str) -> Result<(), AppError> {
    let ok_len = (3..=32).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    let ok_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(AppError::invalid(
            "username must be 3 to 32 characters: letters, digits, '_' or '.', starting with a letter or digit",
        ))
    }
}

/// 1 to 64 characters after trimming, no control characters.
pub fn clean_display_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    let n = name.chars().count();
    if n == 0 || n > 64 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "display_name must be 1 to 64 characters with no control characters",
        ));
    }
    Ok(name.to_string())
}

pub fn check_password(pw: &str) -> Result<(), AppError> {
    let n = pw.chars().count();
    if n < super::password::MIN_LEN {
        return Err(AppError::invalid(format!(
            "password must be at least {} characters",
            super::password::MIN_LEN
        )));
    }
    if pw.len() > super::password::MAX_LEN {
        return Err(AppError::invalid(format!(
            "password must be at most {} bytes",
            super::password::MAX_LEN
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "Alice_99", "a.b", &"x".repeat(32)] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "_abc",
            ".abc",
            "a b",
            "ålice",
            "a;drop",
            &"x".repeat(33),
            "",
        ] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_names_and_passwords() {
        assert_eq!(clean_display_name("  Al ").ok().as_deref(), Some("Al"));
        assert!(clean_display_name("   ").is_err());
        assert!(clean_display_name("a\u{0}b").is_err());
        assert!(clean_display_name(&"é".repeat(64)).is_ok());
        assert!(clean_display_name(&"é".repeat(65)).is_err());
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }
}
