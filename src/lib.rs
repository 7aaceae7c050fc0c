//! kith: one binary that is a whole social app's server.
//!
//! # Layout
//!
//! Layers, each importing only from the layers below it (the table, and one
//! request, one chat message and one transcode followed through them:
//! docs/architecture.md):
//!
//! - **app** ([`app`]): `App::build` binds and wires the node;
//!   `App::run_until` serves until shutdown; the router and `/healthz`.
//! - **edges**: the HTTP routes (`auth::routes`, `social`, `chat`,
//!   `media::routes`, `jobs::routes`, `notify`, `push::routes`, `account`), the realtime
//!   transports ([`realtime`]: WebSocket, WebTransport, what a connection
//!   does with a frame), the cluster link (`cluster::link`), the command
//!   line ([`admin`], `jobs::cli`, [`backup`]), and HTTP plumbing ([`http`],
//!   [`limits`]' settings, [`config`]).
//! - **state** ([`state`]): what a node shares, one `Arc`.
//! - **services**: [`fanout`] (frames to users on every node), [`presence`],
//!   `notify`, [`push`] (Web Push and email digests, routed by presence),
//!   [`outbound`] (connections made on a user's behalf), [`links`] (link
//!   cards), the media pipeline ([`media`]),
//!   the job workers ([`jobs`]), `auth` (sessions, sign-in limits,
//!   passwords), [`cluster`] (membership, gossip, fan-out to other nodes),
//!   the hub of live connections (`realtime::hub`), [`tasks`] (every
//!   background task and the one stop signal).
//! - **db** ([`db`]): the SQLite file, the schema, the read pool and the
//!   writer (one thread runs every write, with group commit; a replica
//!   forwards).
//! - **store** ([`store`]): every write, one module per group of tables,
//!   each command a type with its own reply; the visibility rules as SQL.
//! - **core** (the `kith-core` crate in `core/`): the pure rules: ids,
//!   signing, tickets, realtime frames, presence merging, the job state
//!   machine, token buckets, upload sniffing, Web Push encryption and
//!   VAPID, notification preferences and texts.
//!
//! `schema.sql` at the repository root is the one schema.

mod account;
pub mod admin;
pub mod app;
mod assets;
pub mod auth;
pub mod backup;
mod chat;
pub mod cluster;
mod community;
pub mod config;
mod console;
pub mod db;
mod error;
pub mod fanout;
pub mod http;
pub mod jobs;
pub mod limits;
pub mod links;
pub mod live;
mod mail;
pub mod media;
mod metrics;
mod notify;
pub mod outbound;
pub mod presence;
pub mod push;
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
