//! Cluster tests: real kith processes on 127.0.0.x sharing one database
//! file, one primary and the rest replicas, talking over iroh.

#[path = "../common/clip.rs"]
mod clip;
#[path = "../common/faults.rs"]
mod faults;
#[path = "../common/cluster.rs"]
mod harness;
#[path = "../common/health.rs"]
mod health;
#[path = "../common/images.rs"]
mod images;
#[path = "../common/net.rs"]
mod net;
#[path = "../common/push.rs"]
mod push_service;
#[path = "../common/session.rs"]
mod session;
#[path = "../common/smtp.rs"]
mod smtp;
#[path = "../common/wait.rs"]
mod wait;
#[path = "../common/ws.rs"]
mod ws;
#[path = "../common/wt.rs"]
mod wt;

mod abuse;
mod accounts;
mod admin;
mod blocks;
mod chaos;
mod console;
mod failures;
mod forwarding;
mod litefs;
mod media;
mod push;
mod realtime;
mod sessions;
mod shutdown;
mod tus;
mod webtransport;
