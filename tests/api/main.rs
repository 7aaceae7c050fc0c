//! Integration tests: real servers on temp databases and loopback ports.

mod abuse;
mod account;
mod accounts;
mod admin;
mod asvs;
mod auth;
mod backup;
mod bad_input;
mod blocks;
mod chat;
mod chat_events;
mod chat_groups;
mod cli;
#[path = "../common/clip.rs"]
mod clip;
mod community;
mod console_stats;
mod crash;
mod deploy;
mod disk;
mod e2e;
mod edits;
mod feed;
mod friends;
mod fuzz;
#[path = "../common/health.rs"]
mod health;
#[path = "../common/app.rs"]
mod helpers;
mod idempotency;
#[path = "../common/images.rs"]
mod images;
mod jobs;
mod links;
mod live;
mod mail;
mod media;
mod mentions;
#[path = "../common/net.rs"]
mod net;
mod photos;
mod posts;
mod push;
#[path = "../common/push.rs"]
mod push_service;
mod realtime;
mod restart;
mod resume;
mod search;
#[path = "../common/session.rs"]
mod session;
mod shutdown;
mod smoke;
#[path = "../common/smtp.rs"]
mod smtp;
mod system;
mod tags;
#[path = "../common/wait.rs"]
mod wait;
#[path = "../common/ws.rs"]
mod ws;
#[path = "../common/wt.rs"]
mod wt;
