//! Read receipts, held for a moment and sent together.
//!
//! A message in a group is read at once by every member who has the chat
//! open, and each reader's receipt goes to every member: a group of 8
//! gives each member 7 `read` frames, each its own write to the socket
//! and its own read of the members, within a few milliseconds. At 10,000
//! users (a group of 8 in everyone's conversations) receipts were about
//! three quarters of the frames a message made, and socket writes 17% of
//! the server's CPU. Held for [`RECEIPTS_EVERY`], a conversation's
//! receipts are sent after one read of its members, and each member's
//! connection finds them queued together and writes them at once. 50 ms
//! is below what a person notices on a "seen" mark.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kith_core::ids::Id;
use kith_core::sync::Unpoisoned;

use super::hub::Frame;
use crate::chat::store;
use crate::state::AppState;

/// How long a receipt is held.
pub const RECEIPTS_EVERY: Duration = Duration::from_millis(50);

/// Receipts waiting to be sent, by conversation, each with the connection
/// it came from (which does not get its own receipt back).
#[derive(Default)]
pub struct Receipts(Mutex<HashMap<Id, Vec<(Frame, u64)>>>);

impl Receipts {
    /// Holds `frame`; true when it is the first since the last send (its
    /// caller then starts the next).
    fn hold(&self, conversation: Id, frame: Frame, conn: u64) -> bool {
        let mut held = self.0.write_lock();
        let first = held.is_empty();
        held.entry(conversation).or_default().push((frame, conn));
        first
    }

    /// Everything held, by conversation, each in the order it came.
    fn take(&self) -> HashMap<Id, Vec<(Frame, u64)>> {
        std::mem::take(&mut *self.0.write_lock())
    }
}

/// Sends `frame`, a receipt from connection `conn`, to the members of
/// `conversation` within [`RECEIPTS_EVERY`].
pub fn send(state: &AppState, conversation: Id, frame: Frame, conn: u64) {
    if state.receipts.hold(conversation, frame, conn) {
        let state = state.clone();
        state.tasks.clone().spawn(async move {
            tokio::time::sleep(RECEIPTS_EVERY).await;
            send_held(&state).await;
        });
    }
}

async fn send_held(state: &AppState) {
    for (conversation, frames) in state.receipts.take() {
        let members = match store::member_ids(&state.reader, conversation) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "reading members for read receipts");
                continue;
            }
        };
        for (frame, conn) in frames {
            state.fan_out(&members, &frame, Some(conn)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first receipt of a window starts its send, the others join it;
    /// a send takes them by conversation, in order, and the next receipt
    /// starts a new window.
    #[test]
    fn receipts_are_held_by_conversation_until_sent() {
        let r = Receipts::default();
        let frame = |s: &str| -> Frame { std::sync::Arc::from(s) };
        assert!(r.hold(Id(1), frame("a"), 10));
        assert!(!r.hold(Id(2), frame("b"), 11));
        assert!(!r.hold(Id(1), frame("c"), 12));
        let mut held: Vec<(i64, Vec<(String, u64)>)> = r
            .take()
            .into_iter()
            .map(|(c, fs)| {
                (
                    c.0,
                    fs.into_iter().map(|(f, n)| (f.to_string(), n)).collect(),
                )
            })
            .collect();
        held.sort_by_key(|(c, _)| *c);
        assert_eq!(
            held,
            vec![
                (1, vec![("a".into(), 10), ("c".into(), 12)]),
                (2, vec![("b".into(), 11)]),
            ]
        );
        assert!(r.take().is_empty());
        assert!(r.hold(Id(1), frame("d"), 10), "a new window");
    }
}
