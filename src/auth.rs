//! Accounts and sessions: signup, login, logout, the `User` extractor.
//!
//! Sessions are tower-sessions records in the `tower_sessions` table of the
//! one database file: they are read through tower-sessions-sqlx-store's
//! `SqliteStore` on the read pool and written through the writer
//! ([`session_store::WriterStore`]), so every node sees every session and a
//! replica forwards session writes like any other write.

pub mod accounts;
mod command;
pub mod extract;
pub mod password;
pub mod routes;
pub mod session_store;

pub use command::Cmd;
pub use extract::User;

/// Session keys.
pub(crate) const SESSION_USER: &str = "uid";
pub(crate) const SESSION_SEEN: &str = "seen";
