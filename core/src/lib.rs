//! kith's core: the rules that need no I/O, each a plain function or type
//! tested without sockets or a database. The kith crate's store, services
//! and edges build on them; nothing here knows they exist.
//!
//! - [`ids`]: time-ordered ids, their opaque text form, and times in ms.
//! - [`signing`]: HMAC-SHA256 under a server-wide key.
//! - [`ticket`]: WebTransport's short-lived signed tickets.
//! - [`protocol`]: the realtime frames and their parsing.
//! - [`presence`]: merging presence across nodes.
//! - [`job_state`]: a job's states and the moves between them, with backoff.
//! - [`bucket`]: token buckets, one per key.
//! - [`media`]: media views, their file names, attachment limits, default avatars.
//! - [`sniff`]: what an upload is (image, video), whether an image is whole,
//!   and ffprobe's answer.
//! - [`sync`]: locks that outlive a panic.

pub mod bucket;
pub mod device;
pub mod ids;
pub mod job_state;
pub mod media;
pub mod netguard;
pub mod notify_prefs;
pub mod notify_text;
pub mod presence;
pub mod protocol;
pub mod resume;
pub mod signing;
pub mod sniff;
pub mod sync;
pub mod text;
pub mod ticket;
pub mod webpush;
