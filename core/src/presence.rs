//! Who is online on the other nodes.
//!
//! Each node owns the presence of its own connections. It announces every
//! change (a user's first connection on the node, or their last one
//! closing) with a per-node sequence number, and every
//! [`HEARTBEAT_EVERY`](super::HEARTBEAT_EVERY) sends a heartbeat with its
//! sequence, count and an order-independent digest of its set. A receiver
//! that misses an announcement (a gap in the sequence, or a digest that
//! does not match) asks that node for its whole set. A node not heard from
//! for [`NODE_TTL`](super::NODE_TTL) is gone, and so is everyone online
//! only there.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// The digest of a set of user ids: order-independent, so both sides can
/// keep it up to date by XOR.
pub fn mix(user: i64) -> u64 {
    // splitmix64's finaliser.
    let mut z = (user as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// This node's own set and sequence.
#[derive(Debug, Default)]
pub struct Local {
    users: HashSet<i64>,
    seq: u64,
    digest: u64,
}

impl Local {
    /// Records a change; returns its sequence number, or `None` when
    /// nothing changed.
    pub fn set(&mut self, user: i64, online: bool) -> Option<u64> {
        let changed = if online {
            self.users.insert(user)
        } else {
            self.users.remove(&user)
        };
        changed.then(|| {
            self.digest ^= mix(user);
            self.seq += 1;
            self.seq
        })
    }

    /// (seq, count, digest) for a heartbeat.
    pub fn summary(&self) -> (u64, u64, u64) {
        (self.seq, self.users.len() as u64, self.digest)
    }

    pub fn snapshot(&self) -> (u64, Vec<i64>) {
        (self.seq, self.users.iter().copied().collect())
    }
}

#[derive(Debug)]
struct Node {
    users: HashSet<i64>,
    seq: u64,
    digest: u64,
    seen: Instant,
    /// Known to be out of step: a snapshot is needed.
    stale: bool,
}

impl Node {
    fn new(now: Instant) -> Node {
        Node {
            users: HashSet::new(),
            seq: 0,
            digest: 0,
            seen: now,
            // A node first heard of mid-stream: fetch its set.
            stale: true,
        }
    }
}

/// What a change meant for a user's presence across the cluster (local
/// connections not counted: the caller checks its hub).
#[derive(Debug, PartialEq, Eq)]
pub struct Transition {
    pub user: i64,
    /// Whether the user is now online on some other node.
    pub online: bool,
}

/// The other nodes' sets.
#[derive(Debug, Default)]
pub struct Remote {
    nodes: HashMap<String, Node>,
    /// user → on how many other nodes they are online.
    count: HashMap<i64, u32>,
    /// Nodes that said goodbye, with the run (boot id) that did.
    left: HashMap<String, u64>,
}

impl Remote {
    pub fn is_online(&self, user: i64) -> bool {
        self.count.contains_key(&user)
    }

    /// Which of `users` are on which other node.
    pub fn locate(&self, users: &[i64]) -> Vec<(String, Vec<i64>)> {
        self.nodes
            .iter()
            .filter_map(|(node, n)| {
                let here: Vec<i64> = users
                    .iter()
                    .copied()
                    .filter(|u| n.users.contains(u))
                    .collect();
                (!here.is_empty()).then(|| (node.clone(), here))
            })
            .collect()
    }

    /// Nodes known to be live.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// `node`'s entry (made on first contact) and the user counts, to
    /// change together.
    fn entry(&mut self, node: &str, now: Instant) -> (&mut Node, &mut HashMap<i64, u32>) {
        let n = self
            .nodes
            .entry(node.to_owned())
            .or_insert_with(|| Node::new(now));
        (n, &mut self.count)
    }

    fn add(count: &mut HashMap<i64, u32>, user: i64, out: &mut Vec<Transition>) {
        let c = count.entry(user).or_insert(0);
        *c += 1;
        if *c == 1 {
            out.push(Transition { user, online: true });
        }
    }

    fn remove(count: &mut HashMap<i64, u32>, user: i64, out: &mut Vec<Transition>) {
        if let Some(c) = count.get_mut(&user) {
            *c -= 1;
            if *c == 0 {
                count.remove(&user);
                out.push(Transition {
                    user,
                    online: false,
                });
            }
        }
    }

    /// Applies an announcement. Always applied (it is the newest word on
    /// that user from that node), but a gap in the sequence marks the node
    /// stale.
    pub fn announce(
        &mut self,
        node: &str,
        seq: u64,
        user: i64,
        online: bool,
        now: Instant,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let (n, count) = self.entry(node, now);
        n.seen = now;
        if seq != n.seq + 1 {
            n.stale = true;
        }
        n.seq = n.seq.max(seq);
        if online {
            if n.users.insert(user) {
                n.digest ^= mix(user);
                Self::add(count, user, &mut out);
            }
        } else if n.users.remove(&user) {
            n.digest ^= mix(user);
            Self::remove(count, user, &mut out);
        }
        out
    }

    /// Applies a heartbeat; returns true when the node needs a snapshot.
    pub fn heartbeat(&mut self, node: &str, seq: u64, len: u64, digest: u64, now: Instant) -> bool {
        let (n, _) = self.entry(node, now);
        n.seen = now;
        if n.seq != seq || n.users.len() as u64 != len || n.digest != digest {
            n.stale = true;
        }
        n.stale
    }

    /// Replaces a node's set with a snapshot taken at `seq`.
    pub fn replace(
        &mut self,
        node: &str,
        seq: u64,
        users: &[i64],
        now: Instant,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let (n, count) = self.entry(node, now);
        if seq < n.seq && !n.stale {
            // Older than what we have.
            return out;
        }
        let new: HashSet<i64> = users.iter().copied().collect();
        for gone in n.users.difference(&new) {
            Self::remove(count, *gone, &mut out);
        }
        for came in new.difference(&n.users) {
            Self::add(count, *came, &mut out);
        }
        n.digest = new.iter().fold(0, |d, u| d ^ mix(*u));
        n.users = new;
        n.seq = seq;
        n.seen = now;
        n.stale = false;
        out
    }

    /// A node said goodbye: forget it, and ignore that run's late
    /// messages.
    pub fn leave(&mut self, node: &str, boot: u64) -> Vec<Transition> {
        if self.left.len() > 1000 {
            self.left.clear();
        }
        self.left.insert(node.to_owned(), boot);
        self.drop_node(node)
    }

    /// Whether this message comes from a run of `node` that said goodbye.
    /// A message from a new run clears the goodbye.
    pub fn has_left(&mut self, node: &str, boot: u64) -> bool {
        match self.left.get(node) {
            Some(b) if *b == boot => true,
            Some(_) => {
                self.left.remove(node);
                false
            }
            None => false,
        }
    }

    /// Whether `node`'s last run said goodbye.
    pub fn has_left_any(&self, node: &str) -> bool {
        self.left.contains_key(node)
    }

    /// Forgets a node (it left, or was not heard from in time).
    pub fn drop_node(&mut self, node: &str) -> Vec<Transition> {
        let mut out = Vec::new();
        if let Some(n) = self.nodes.remove(node) {
            for u in n.users {
                Self::remove(&mut self.count, u, &mut out);
            }
        }
        out
    }

    /// Drops every node silent since before `cutoff`.
    pub fn expire(&mut self, cutoff: Instant) -> Vec<Transition> {
        let dead: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.seen < cutoff)
            .map(|(k, _)| k.clone())
            .collect();
        dead.iter().flat_map(|n| self.drop_node(n)).collect()
    }

    /// Marks every node stale (after this node missed gossip).
    pub fn mark_all_stale(&mut self) {
        for n in self.nodes.values_mut() {
            n.stale = true;
        }
    }

    /// Nodes whose set must be fetched.
    pub fn stale(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.stale)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn announcements_in_order_keep_the_digest_in_step() {
        let now = Instant::now();
        let mut local = Local::default();
        let mut remote = Remote::default();
        let s1 = local.set(1, true).expect("changed");
        assert_eq!(local.set(1, true), None);
        let s2 = local.set(2, true).expect("changed");
        assert_eq!(
            remote.announce("a", s1, 1, true, now),
            vec![Transition {
                user: 1,
                online: true
            }]
        );
        remote.announce("a", s2, 2, true, now);
        // First contact marked the node stale; a snapshot settles it.
        let (seq, users) = local.snapshot();
        assert!(remote.replace("a", seq, &users, now).is_empty());
        let (seq, len, digest) = local.summary();
        assert!(!remote.heartbeat("a", seq, len, digest, now));
        let s3 = local.set(1, false).expect("changed");
        assert_eq!(
            remote.announce("a", s3, 1, false, now),
            vec![Transition {
                user: 1,
                online: false
            }]
        );
        let (seq, len, digest) = local.summary();
        assert!(!remote.heartbeat("a", seq, len, digest, now));
        assert!(!remote.is_online(1) && remote.is_online(2));
        assert_eq!(remote.locate(&[1, 2, 3]), vec![("a".to_string(), vec![2])]);
    }

    #[test]
    fn a_missed_announcement_is_caught_by_the_heartbeat_and_repaired() {
        let now = Instant::now();
        let mut local = Local::default();
        let mut remote = Remote::default();
        let (seq, users) = local.snapshot();
        remote.replace("a", seq, &users, now);
        local.set(5, true);
        let lost = local.set(6, true).expect("changed");
        let _ = lost; // never delivered
        let (seq, len, digest) = local.summary();
        assert!(remote.heartbeat("a", seq, len, digest, now));
        assert_eq!(remote.stale(), vec!["a".to_string()]);
        let (seq, users) = local.snapshot();
        let mut t = remote.replace("a", seq, &users, now);
        t.sort_by_key(|t| t.user);
        assert_eq!(
            t,
            vec![
                Transition {
                    user: 5,
                    online: true
                },
                Transition {
                    user: 6,
                    online: true
                }
            ]
        );
        assert!(remote.stale().is_empty());
    }

    #[test]
    fn a_goodbye_is_not_undone_by_late_messages_but_a_restart_is_welcome() {
        let now = Instant::now();
        let mut remote = Remote::default();
        remote.replace("a", 1, &[7], now);
        assert_eq!(
            remote.leave("a", 42),
            vec![Transition {
                user: 7,
                online: false
            }]
        );
        // A heartbeat sent before the goodbye arrives after it.
        assert!(remote.has_left("a", 42));
        assert!(remote.has_left_any("a"));
        // The node restarts: a new run is heard again.
        assert!(!remote.has_left("a", 43));
        assert!(!remote.has_left_any("a"));
        remote.announce("a", 1, 7, true, now);
        assert!(remote.is_online(7));
    }

    #[test]
    fn a_user_on_two_nodes_stays_online_until_both_are_gone() {
        let t0 = Instant::now();
        let mut remote = Remote::default();
        remote.replace("a", 1, &[7], t0);
        remote.replace("b", 1, &[7, 8], t0 + Duration::from_secs(5));
        assert!(remote.expire(t0 + Duration::from_secs(1)).is_empty());
        assert!(remote.is_online(7));
        let mut gone = remote.expire(t0 + Duration::from_secs(6));
        gone.sort_by_key(|t| t.user);
        assert_eq!(
            gone,
            vec![
                Transition {
                    user: 7,
                    online: false
                },
                Transition {
                    user: 8,
                    online: false
                }
            ]
        );
        assert_eq!(remote.nodes().count(), 0);
    }
}
