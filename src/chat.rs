//! Conversations and messages (`conversations`, `conversation_members`,
//! `messages`): the REST side. Live delivery is in `realtime`.
//!
//! Items (messages, and events that change a message or a group) are
//! numbered per conversation (seq 1, 2, …) by the writer, so "everything
//! after seq N" is an index range on any node. A resend with the same
//! (sender, client_msg_id) is the same item: it gets the original seq and
//! is stored and delivered once.

pub mod groups;
pub mod items;
pub mod position;
pub mod resume;
pub mod routes;
pub mod store;
