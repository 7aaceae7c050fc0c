//! Realtime: chat, presence, typing and notifications pushed to live
//! connections over WebSocket (`/ws`) and WebTransport (`/wt`).
//!
//! Both transports speak one protocol ([`protocol`], documented in
//! docs/protocol.md) and run the same connection logic ([`conn`]); they only
//! move frames. The [`hub`] maps each user to their live connections on this
//! node, each with a bounded outgoing queue.

pub mod cert;
pub mod conn;
pub mod hub;
pub mod routes;
pub mod session;
pub mod webtransport;
pub mod ws;
pub mod wt_info;

pub use hub::Hub;
/// The core's protocol and tickets, where the transports live.
pub use kith_core::{protocol, ticket};
