//! The hub: user id → that user's live connections on this node.
//!
//! Each connection has a bounded outgoing queue ([`OUTBOX`] frames). A send
//! never waits: when a connection's queue is full, that consumer has fallen
//! behind, and it is removed from the hub and told to close ("slow
//! consumer") instead of being buffered without bound. Frames are `Arc<str>`,
//! serialized once and shared by every recipient.
//!
//! The map sits behind a `std::sync::RwLock`: every critical section is a
//! few map operations and `try_send`s, never an await, and fan-out (the
//! common case) only reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{Notify, mpsc};

/// A serialized server frame.
pub type Frame = Arc<str>;

/// Frames a connection may have queued before it counts as too slow.
pub const OUTBOX: usize = 256;

/// The close reason of connections whose user ended all their sessions.
pub const SIGNED_OUT: &str = "signed out";

/// Tells a connection to close, and why.
#[derive(Debug, Default)]
pub struct Kick {
    notify: Notify,
    reason: Mutex<Option<&'static str>>,
}

impl Kick {
    pub fn kick(&self, reason: &'static str) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert(reason);
        }
        self.notify.notify_one();
    }

    /// Completes once kicked; returns the reason.
    pub async fn kicked(&self) -> &'static str {
        self.notify.notified().await;
        self.reason.lock().ok().and_then(|r| *r).unwrap_or("closed")
    }
}

struct Slot {
    conn: u64,
    tx: mpsc::Sender<Frame>,
    kick: Arc<Kick>,
}

/// A registered connection's end of the hub.
pub struct Registration {
    pub conn: u64,
    pub rx: mpsc::Receiver<Frame>,
    pub kick: Arc<Kick>,
    /// The user had no other connection on this node.
    pub first: bool,
}

#[derive(Default)]
pub struct Hub {
    users: RwLock<HashMap<i64, Vec<Slot>>>,
    next_conn: AtomicU64,
}

impl Hub {
    pub fn register(&self, user: i64) -> Registration {
        let (tx, rx) = mpsc::channel(OUTBOX);
        let kick = Arc::new(Kick::default());
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let slots = users.entry(user).or_default();
        let first = slots.is_empty();
        slots.push(Slot {
            conn,
            tx,
            kick: kick.clone(),
        });
        Registration {
            conn,
            rx,
            kick,
            first,
        }
    }

    /// Removes a connection; true when the user has none left.
    pub fn unregister(&self, user: i64, conn: u64) -> bool {
        let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
        let Some(slots) = users.get_mut(&user) else {
            return true;
        };
        slots.retain(|s| s.conn != conn);
        if slots.is_empty() {
            users.remove(&user);
            true
        } else {
            false
        }
    }

    pub fn is_online(&self, user: i64) -> bool {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.contains_key(&user)
    }

    /// Live connections on this node (for metrics and tests).
    pub fn connections(&self) -> usize {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        users.values().map(Vec::len).sum()
    }

    /// Queues `frame` for every connection of `user` but `except`; returns
    /// how many took it. Connections whose queue is full are kicked.
    pub fn send(&self, user: i64, frame: &Frame, except: Option<u64>) -> usize {
        let mut slow = Vec::new();
        let mut sent = 0;
        {
            let users = self.users.read().unwrap_or_else(|e| e.into_inner());
            let Some(slots) = users.get(&user) else {
                return 0;
            };
            for s in slots.iter().filter(|s| Some(s.conn) != except) {
                match s.tx.try_send(frame.clone()) {
                    Ok(()) => sent += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => slow.push(s.conn),
                    // Closing already.
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        if !slow.is_empty() {
            let mut users = self.users.write().unwrap_or_else(|e| e.into_inner());
            if let Some(slots) = users.get_mut(&user) {
                slots.retain(|s| {
                    let drop = slow.contains(&s.conn);
                    if drop {
                        s.kick.kick("slow consumer");
                    }
                    !drop
                });
                if slots.is_empty() {
                    users.remove(&user);
                }
            }
        }
        sent
    }

    /// Kicks every connection on this node (shutdown).
    pub fn kick_all(&self, reason: &'static str) {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        for s in users.values().flatten() {
            s.kick.kick(reason);
        }
    }

    /// Kicks every connection of `user` (logout-all, ban).
    pub fn kick_user(&self, user: i64, reason: &'static str) {
        let users = self.users.read().unwrap_or_else(|e| e.into_inner());
        for s in users.get(&user).into_iter().flatten() {
            s.kick.kick(reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_kicks_only_that_connection() {
        let hub = Hub::default();
        let mut fast = hub.register(1);
        let slow = hub.register(1);
        assert!(fast.first && !slow.first);
        let frame: Frame = Arc::from("{}");
        for _ in 0..OUTBOX {
            assert_eq!(hub.send(1, &frame, None), 2);
            fast.rx.recv().await.expect("frame");
        }
        // The slow one's queue is full now; the next send drops it.
        assert_eq!(hub.send(1, &frame, None), 1);
        assert_eq!(slow.kick.kicked().await, "slow consumer");
        assert_eq!(hub.connections(), 1);
        assert_eq!(hub.send(1, &frame, None), 1);
        assert!(!hub.unregister(1, slow.conn));
        assert!(hub.unregister(1, fast.conn));
        assert!(!hub.is_online(1));
    }

    #[test]
    fn except_skips_the_sender() {
        let hub = Hub::default();
        let a = hub.register(7);
        let _b = hub.register(7);
        assert_eq!(hub.send(7, &Arc::from("x"), Some(a.conn)), 1);
        assert_eq!(hub.send(8, &Arc::from("x"), None), 0);
    }
}
