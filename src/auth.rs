//! Accounts and sessions: signup, login, logout, the `User` extractor.
//!
//! Sessions are tower-sessions records in the `tower_sessions` table of the
//! one database file: they are read through tower-sessions-sqlx-store's
//! `SqliteStore` on the read pool and written through the writer
//! ([`session_store::WriterStore`]), so every node sees every session and a
//! replica forwards session writes like any other write.
//!
//! Signing in and signing up are limited per address and per account, with
//! the counts in the database so that the limits hold on every node
//! ([`limits`]).

pub mod accounts;
pub mod ended;
pub mod extract;
pub mod limits;
pub mod password;
pub mod recovery;
pub mod routes;
pub mod session_store;
pub mod sessions;
pub mod tokens;

pub use extract::{Admin, User};

/// Session keys.
pub(crate) const SESSION_USER: &str = "uid";
pub(crate) const SESSION_SEEN: &str = "seen";
/// `browser` (a cookie) or `token` (a native app's bearer token).
pub(crate) const SESSION_KIND: &str = "kind";
/// The device's name, from its User-Agent at sign-in.
pub(crate) const SESSION_DEVICE: &str = "device";
/// The coarse address it was last used from.
pub(crate) const SESSION_ADDR: &str = "addr";
