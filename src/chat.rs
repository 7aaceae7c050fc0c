//! Conversations and messages (`conversations`, `conversation_members`,
//! `messages`): the REST side. Live delivery is in `realtime`.
//!
//! Messages are numbered per conversation (seq 1, 2, …) by the writer, so
//! "everything after seq N" is an index range on any node. A resend with the
//! same (sender, client_msg_id) is the same message: it gets the original
//! seq and is stored and delivered once.

pub mod routes;
pub mod store;
