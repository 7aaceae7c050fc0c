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
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use kith_core::ids::Id;
use kith_core::sync::Unpoisoned;
use std::collections::VecDeque;

use tokio::sync::{Notify, watch};

/// A serialized server frame.
pub type Frame = Arc<str>;

/// Frames a connection may have queued before it counts as too slow.
pub const OUTBOX: usize = 256;

/// The close reason of connections whose user ended all their sessions.
pub const SIGNED_OUT: &str = "signed out";
/// The close reason of every connection when the server shuts down. The
/// transports send it with their "service restart" code (WebSocket 1012):
/// the client should reconnect at once, to another node if there is one,
/// and sync.
pub const SHUTTING_DOWN: &str = "server restarting; reconnect";

/// The close reason of connections whose user was banned.
pub const BANNED: &str = "account banned";

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

/// A connection's queue of frames to send: at most [`OUTBOX`], filled by
/// the hub without waiting, emptied by the connection alone.
///
/// Not a tokio `mpsc` channel: one costs about 1 KiB per connection even
/// while empty (its shared state is padded to cache lines, and its first
/// block of 32 slots is allocated up front), which was a sixth of an idle
/// WebSocket's memory. An empty queue here holds no allocation, and gives
/// back what a burst made it grow as soon as it is drained.
#[derive(Debug, Default)]
pub struct Outbox {
    frames: Mutex<VecDeque<Frame>>,
    ready: Notify,
}

/// A drained queue keeps its buffer up to this many frames.
const KEEP_QUEUED: usize = 4;

impl Outbox {
    /// Queues `frame`; gives it back when the queue is full.
    fn push(&self, frame: Frame) -> Result<(), Frame> {
        {
            let mut q = self.frames.write_lock();
            if q.len() >= OUTBOX {
                return Err(frame);
            }
            q.push_back(frame);
        }
        // One waiter at most (the connection); without one, the permit is
        // kept for its next wait.
        self.ready.notify_one();
        Ok(())
    }

    /// Moves up to `max` queued frames into `batch`, oldest first.
    fn take(&self, batch: &mut Vec<Frame>, max: usize) {
        let mut q = self.frames.write_lock();
        let n = q.len().min(max.saturating_sub(batch.len()));
        batch.extend(q.drain(..n));
        if q.is_empty() && q.capacity() > KEEP_QUEUED {
            *q = VecDeque::new();
        }
    }

    /// Waits for at least one frame, then moves up to `max` into a new
    /// batch.
    pub async fn next_batch(&self, max: usize) -> Vec<Frame> {
        loop {
            let mut batch = Vec::new();
            self.take(&mut batch, max);
            if !batch.is_empty() {
                return batch;
            }
            self.ready.notified().await;
        }
    }
}

struct Slot {
    conn: u64,
    /// The handle of the session the connection was opened under
    /// (`kith_core::device::session_handle`); `None` for connections made
    /// without one (tests of the hub itself).
    session: Option<Id>,
    outbox: Arc<Outbox>,
    kick: Arc<Kick>,
}

/// A registered connection's end of the hub.
pub struct Registration {
    pub conn: u64,
    pub outbox: Arc<Outbox>,
    pub kick: Arc<Kick>,
    /// The user had no other connection on this node.
    pub first: bool,
    /// Held for the connection's life: [`Hub::closed`] waits for it.
    _live: watch::Receiver<()>,
}

pub struct Hub {
    users: RwLock<HashMap<i64, Vec<Slot>>>,
    next_conn: AtomicU64,
    /// Set by [`Hub::kick_all`]: connections registered afterwards are
    /// kicked at once, with this reason.
    closing: OnceLock<&'static str>,
    /// Every live [`Registration`] holds a receiver.
    live: watch::Sender<()>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            users: RwLock::default(),
            next_conn: AtomicU64::new(0),
            closing: OnceLock::new(),
            live: watch::Sender::new(()),
        }
    }
}

impl Hub {
    pub fn register(&self, user: Id, session: Option<Id>) -> Registration {
        let user = user.0;
        let outbox = Arc::new(Outbox::default());
        let kick = Arc::new(Kick::default());
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let mut users = self.users.write_lock();
        // Under the lock: `kick_all` either sees this slot or was called
        // before this check.
        if let Some(&reason) = self.closing.get() {
            kick.kick(reason);
        }
        let slots = users.entry(user).or_default();
        let first = slots.is_empty();
        slots.push(Slot {
            conn,
            session,
            outbox: outbox.clone(),
            kick: kick.clone(),
        });
        Registration {
            conn,
            outbox,
            kick,
            first,
            _live: self.live.subscribe(),
        }
    }

    /// Completes once no connection is left: every [`Registration`] has
    /// been dropped, which its connection does once it has closed.
    pub async fn closed(&self) {
        self.live.closed().await;
    }

    /// Removes a connection; true when the user has none left.
    pub fn unregister(&self, user: Id, conn: u64) -> bool {
        let user = user.0;
        let mut users = self.users.write_lock();
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

    pub fn is_online(&self, user: Id) -> bool {
        let user = user.0;
        let users = self.users.read_lock();
        users.contains_key(&user)
    }

    /// Live connections on this node (for metrics and tests).
    pub fn connections(&self) -> usize {
        let users = self.users.read_lock();
        users.values().map(Vec::len).sum()
    }

    /// Queues `frame` for every connection of `user` but `except`; returns
    /// how many took it. Connections whose queue is full are kicked.
    pub fn send(&self, user: Id, frame: &Frame, except: Option<u64>) -> usize {
        let user = user.0;
        let mut slow = Vec::new();
        let mut sent = 0;
        {
            let users = self.users.read_lock();
            let Some(slots) = users.get(&user) else {
                return 0;
            };
            for s in slots.iter().filter(|s| Some(s.conn) != except) {
                match s.outbox.push(frame.clone()) {
                    Ok(()) => sent += 1,
                    Err(_) => slow.push(s.conn),
                }
            }
        }
        if !slow.is_empty() {
            let mut users = self.users.write_lock();
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

    /// Queues `frame` for connection `conn` of `user` alone (what it
    /// watches: [`crate::live`]). A full queue drops the frame: the
    /// client that stopped reading is kicked by the next [`Hub::send`].
    pub fn send_to(&self, user: Id, conn: u64, frame: &Frame) -> bool {
        let users = self.users.read_lock();
        users
            .get(&user.0)
            .and_then(|slots| slots.iter().find(|s| s.conn == conn))
            .is_some_and(|s| s.outbox.push(frame.clone()).is_ok())
    }

    /// Kicks every connection on this node, and every one registered from
    /// now on (shutdown: a connection that was still being set up must not
    /// outlive it).
    pub fn kick_all(&self, reason: &'static str) {
        let reason = *self.closing.get_or_init(|| reason);
        let users = self.users.read_lock();
        for s in users.values().flatten() {
            s.kick.kick(reason);
        }
    }

    /// Kicks every connection opened under the session whose handle is
    /// `session` (it ended). A scan of every slot: sessions end a few times
    /// a minute at most, and 10 000 slots scan in tens of microseconds.
    pub fn kick_session(&self, session: Id, reason: &'static str) -> usize {
        let users = self.users.read_lock();
        let mut kicked = 0;
        for s in users.values().flatten() {
            if s.session == Some(session) {
                s.kick.kick(reason);
                kicked += 1;
            }
        }
        kicked
    }

    /// Kicks every connection of `user` (logout-all, ban).
    pub fn kick_user(&self, user: Id, reason: &'static str) {
        let user = user.0;
        let users = self.users.read_lock();
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
        let fast = hub.register(Id(1), None);
        let slow = hub.register(Id(1), None);
        assert!(fast.first && !slow.first);
        let frame: Frame = Arc::from("{}");
        for _ in 0..OUTBOX {
            assert_eq!(hub.send(Id(1), &frame, None), 2);
            assert_eq!(fast.outbox.next_batch(64).await.len(), 1);
        }
        // The slow one's queue is full now; the next send drops it.
        assert_eq!(hub.send(Id(1), &frame, None), 1);
        assert_eq!(slow.kick.kicked().await, "slow consumer");
        assert_eq!(hub.connections(), 1);
        assert_eq!(hub.send(Id(1), &frame, None), 1);
        assert!(!hub.unregister(Id(1), slow.conn));
        assert!(hub.unregister(Id(1), fast.conn));
        assert!(!hub.is_online(Id(1)));
    }

    #[tokio::test]
    async fn kick_all_closes_later_connections_too_and_closed_waits_for_all() {
        let hub = Hub::default();
        // Nothing registered: nothing to wait for.
        hub.closed().await;
        let early = hub.register(Id(1), None);
        hub.kick_all(SHUTTING_DOWN);
        assert_eq!(early.kick.kicked().await, SHUTTING_DOWN);
        let late = hub.register(Id(2), None);
        assert_eq!(late.kick.kicked().await, SHUTTING_DOWN);
        let waiting = tokio::spawn(async move {
            let hub = hub;
            hub.closed().await;
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(early);
        drop(late);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("closed() completes once every registration is gone")
            .expect("task");
    }

    #[tokio::test]
    async fn an_outbox_keeps_order_and_its_bound_and_no_buffer_once_drained() {
        let o = Arc::new(Outbox::default());
        for i in 0..100 {
            o.push(Arc::from(i.to_string())).expect("room");
        }
        let first = o.next_batch(64).await;
        let rest = o.next_batch(64).await;
        assert_eq!((first.len(), rest.len()), (64, 36));
        let all: Vec<String> = first.iter().chain(&rest).map(|f| f.to_string()).collect();
        assert_eq!(all, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(
            o.frames.read_lock().capacity(),
            0,
            "a drained queue holds no buffer"
        );
        for _ in 0..OUTBOX {
            o.push(Arc::from("x")).expect("room");
        }
        assert!(o.push(Arc::from("over")).is_err(), "full at OUTBOX frames");
        assert_eq!(o.next_batch(OUTBOX).await.len(), OUTBOX);
        // A waiting connection wakes for a frame queued later.
        let waiting = tokio::spawn({
            let o = o.clone();
            async move { o.next_batch(8).await }
        });
        tokio::task::yield_now().await;
        o.push(Arc::from("late")).expect("room");
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("task");
        assert_eq!(&*got[0], "late");
    }

    #[test]
    fn except_skips_the_sender() {
        let hub = Hub::default();
        let a = hub.register(Id(7), None);
        let _b = hub.register(Id(7), None);
        assert_eq!(hub.send(Id(7), &Arc::from("x"), Some(a.conn)), 1);
        assert_eq!(hub.send(Id(8), &Arc::from("x"), None), 0);
    }
}
