//! Cluster tests: real kith processes on 127.0.0.x sharing one database
//! file, one primary and the rest replicas, talking over iroh.

#[path = "../common/clip.rs"]
mod clip;
mod harness;
#[path = "../common/session.rs"]
mod session;

mod abuse;
mod admin;
mod blocks;
mod failures;
mod forwarding;
mod litefs;
mod media;
mod realtime;
mod sessions;
mod shutdown;
mod webtransport;
