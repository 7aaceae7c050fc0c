//! kith: one binary that is a whole social app's server.
//!
//! # Layout
//!
//! - [`config`]: flags and `KITH_*` variables.
//! - [`app`]: state, router and background tasks; `App::build` binds and
//!   `App::run_until` serves until shutdown.
//! - [`db`]: the SQLite file, the schema, the read pool and the writer (one
//!   thread runs every write, with group commit; a replica forwards).
//! - [`store`]: every write, one module per group of tables: each command
//!   a type with its own reply; and the SQL visibility rules.
//! - [`auth`]: accounts, password hashing, sessions, the `User` extractor.
//! - [`social`]: profiles, friends, posts, likes, comments, feed, search.
//! - [`chat`]: conversations and messages (REST).
//! - [`notify`]: notifications, stored and pushed live.
//! - [`realtime`]: the hub, the protocol, WebSocket and WebTransport.
//! - [`cluster`]: several nodes on one replicated database: membership,
//!   write forwarding to the primary, gossip of presence and fan-out.
//! - [`backup`]: `kith backup`, `kith restore` and periodic backups.
//! - [`metrics`]: Prometheus counters on `/metrics`.
//! - [`jobs`]: the durable job queue and its workers.
//! - [`admin`]: `kith admin` (accounts, bans, admins) and the watcher that
//!   closes a banned account's sockets on every node.
//! - [`media`]: video upload, transcoding with ffmpeg, Range serving.
//! - [`http`]: extractors, pagination, the cross-origin check, the
//!   client's address, and the server loop with its header timeout.
//! - [`limits`]: per-user rate limits on writes and realtime sends, and
//!   the settings of every abuse limit (sign-in limits: [`auth::limits`]).
//! - [`error`]: `AppError` and the JSON error body.
//! - [`ids`]: time-ordered ids and their opaque text form.
//! - [`assets`]: the embedded web client.
//!
//! Each module owns the SQL of its tables; `schema.sql` at the repository
//! root is the one schema.

mod account;
pub mod admin;
pub mod app;
mod assets;
mod auth;
pub mod backup;
mod chat;
pub mod cluster;
pub mod config;
pub mod db;
mod error;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod media;
mod metrics;
mod notify;
pub mod presence;
pub mod realtime;
mod social;
pub mod state;
pub mod store;
pub mod tasks;

pub use app::App;
pub use config::Config;
/// The core's ids, as tests and tools name them.
pub use kith_core::ids;
pub use state::AppState;
