//! A network the tests can break: each node runs in a network namespace
//! of its own, and all cluster traffic between nodes passes through a UDP
//! proxy written here, which can cut a link in either direction, drop a
//! share of datagrams and add delay (`tc netem` is not available).
//!
//! Why namespaces and not only the proxy: iroh tells its peers the
//! addresses it is bound to and tries them directly (QUIC NAT traversal);
//! on one loopback that direct path would go around the proxy. In its own
//! namespace, a node reaches nothing but its veth's far end in the root
//! namespace, where the proxy listens: node i's namespace has a route to
//! the proxies' subnet only, not to the other nodes. The tests' HTTP and
//! WebSocket clients, in the root namespace, reach every node directly.
//!
//! Addresses come from 198.18.0.0/15, the block set aside for network
//! tests (RFC 2544), so they meet no real network of the machine. Layout
//! for fabric number B (one per cluster): node i is 198.18.B.(4i+2) in
//! namespace `kf{B}n{i}`, 198.18.B.(4i+1) is the root side of its veth,
//! and its proxy listens on 198.19.B.(i+1) (an address on the root
//! namespace's `lo`), port [`CLUSTER_PORT`], the address node i
//! advertises. Datagrams from node j to node i's proxy are sent on from a
//! socket bound to 198.19.B.(j+1), so replies come back through the proxy
//! too.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Every node's HTTP port, inside its namespace.
pub const HTTP_PORT: u16 = 8080;
/// Every node's cluster port, inside its namespace and on its proxy.
pub const CLUSTER_PORT: u16 = 9000;

/// What happens to datagrams from one node to another.
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    pub cut: bool,
    /// The share of datagrams dropped, 0 to 1.
    pub loss: f64,
    pub delay: Duration,
}

type Rules = Arc<Mutex<HashMap<(usize, usize), Link>>>;

pub struct Fabric {
    b: u8,
    nodes: usize,
    rules: Rules,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("setting up the test network: {e}");
    }
}

/// A fabric number no other fabric of this machine uses now: from the
/// process id and a counter, checked against the namespaces and the
/// addresses that exist.
fn fresh_b() -> u8 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let read = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    let (spaces, addrs) = (read(&["netns", "list"]), read(&["-4", "addr"]));
    let start = std::process::id();
    for _ in 0..256 {
        let b = (start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 250) as u8 + 1;
        let taken = spaces.contains(&format!("kf{b}n"))
            || addrs.contains(&format!("198.18.{b}."))
            || addrs.contains(&format!("198.19.{b}."));
        if !taken {
            return b;
        }
    }
    panic!("no free test network number");
}

impl Fabric {
    /// Namespaces, veths and proxies for `nodes` nodes.
    pub fn new(nodes: usize) -> Fabric {
        let b = fresh_b();
        for i in 0..nodes {
            let ns = format!("kf{b}n{i}");
            let (host, inner) = (format!("kf{b}h{i}"), format!("kf{b}v{i}"));
            let _ = ip(&["netns", "del", &ns]);
            let _ = ip(&["link", "del", &host]);
            must(&["netns", "add", &ns]);
            must(&["link", "add", &host, "type", "veth", "peer", "name", &inner]);
            must(&["link", "set", &inner, "netns", &ns]);
            must(&[
                "addr",
                "add",
                &format!("{}/30", host_ip(b, i)),
                "dev",
                &host,
            ]);
            must(&["link", "set", &host, "up"]);
            let in_ns = |args: &[&str]| {
                let mut all = vec!["-n", ns.as_str()];
                all.extend_from_slice(args);
                must(&all);
            };
            in_ns(&["link", "set", "lo", "up"]);
            in_ns(&[
                "addr",
                "add",
                &format!("{}/30", node_ip(b, i)),
                "dev",
                &inner,
            ]);
            in_ns(&["link", "set", &inner, "up"]);
            in_ns(&[
                "route",
                "add",
                &format!("198.19.{b}.0/24"),
                "via",
                &host_ip(b, i).to_string(),
            ]);
            let proxy = format!("{}/32", proxy_ip(b, i));
            let _ = ip(&["addr", "del", &proxy, "dev", "lo"]);
            must(&["addr", "add", &proxy, "dev", "lo"]);
        }
        let rules: Rules = Arc::default();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let proxies: Vec<std::net::UdpSocket> = (0..nodes)
            .map(|i| {
                let s = std::net::UdpSocket::bind(proxy_addr(b, i)).expect("bind a proxy");
                s.set_nonblocking(true).expect("nonblocking");
                s
            })
            .collect();
        let r = rules.clone();
        // The proxy has a thread and runtime of its own: its timing does
        // not depend on what the test's runtime is doing.
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                for (i, s) in proxies.into_iter().enumerate() {
                    let s = Arc::new(UdpSocket::from_std(s).expect("proxy socket"));
                    tokio::spawn(serve(b, i, s, r.clone()));
                }
                let _ = stopped.await;
            });
        });
        Fabric {
            b,
            nodes,
            rules,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn netns(&self, i: usize) -> String {
        format!("kf{}n{i}", self.b)
    }

    /// Node `i`'s own address, in its namespace.
    pub fn node_ip(&self, i: usize) -> Ipv4Addr {
        node_ip(self.b, i)
    }

    /// Where the others reach node `i`: its proxy.
    pub fn advertised(&self, i: usize) -> SocketAddr {
        proxy_addr(self.b, i)
    }

    pub fn set(&self, from: usize, to: usize, link: Link) {
        self.rules.lock().expect("rules").insert((from, to), link);
    }

    /// Cuts `a` off from `b`, both ways.
    pub fn cut(&self, a: usize, b: usize) {
        let cut = Link {
            cut: true,
            ..Link::default()
        };
        self.set(a, b, cut);
        self.set(b, a, cut);
    }

    /// Cuts node `a` off from every other node.
    pub fn isolate(&self, a: usize) {
        for b in (0..self.nodes).filter(|b| *b != a) {
            self.cut(a, b);
        }
    }

    /// The same on every link, both ways.
    pub fn everywhere(&self, link: Link) {
        for a in 0..self.nodes {
            for b in (0..self.nodes).filter(|b| *b != a) {
                self.set(a, b, link);
            }
        }
    }

    /// Every link whole again.
    pub fn heal(&self) {
        self.rules.lock().expect("rules").clear();
    }
}

impl Drop for Fabric {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for i in 0..self.nodes {
            let _ = ip(&["netns", "del", &self.netns(i)]);
            let _ = ip(&["link", "del", &format!("kf{}h{i}", self.b)]);
            let proxy = format!("{}/32", proxy_ip(self.b, i));
            let _ = ip(&["addr", "del", &proxy, "dev", "lo"]);
        }
    }
}

fn node_ip(b: u8, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, b, 4 * i as u8 + 2)
}

fn host_ip(b: u8, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, b, 4 * i as u8 + 1)
}

fn proxy_ip(b: u8, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 19, b, i as u8 + 1)
}

fn proxy_addr(b: u8, i: usize) -> SocketAddr {
    SocketAddr::from((proxy_ip(b, i), CLUSTER_PORT))
}

/// A small generator for the loss draws (no dependency for one number).
struct Dice(u64);

impl Dice {
    fn below(&mut self, p: f64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Sends `data` to `dest` on `socket`, as the rule for `from → to` says.
async fn pass(
    rules: &Rules,
    dice: &mut Dice,
    (from, to): (usize, usize),
    data: &[u8],
    socket: &Arc<UdpSocket>,
    dest: SocketAddr,
) {
    let link = rules
        .lock()
        .map(|r| r.get(&(from, to)).copied().unwrap_or_default())
        .unwrap_or_default();
    if link.cut || (link.loss > 0.0 && dice.below(link.loss)) {
        return;
    }
    if link.delay.is_zero() {
        let _ = socket.send_to(data, dest).await;
        return;
    }
    let (socket, data) = (socket.clone(), data.to_vec());
    tokio::spawn(async move {
        tokio::time::sleep(link.delay).await;
        let _ = socket.send_to(&data, dest).await;
    });
}

/// Node `i`'s proxy: datagrams from node j go on to node i from a socket
/// of their own (bound to j's proxy address), whose replies come back.
async fn serve(b: u8, i: usize, listener: Arc<UdpSocket>, rules: Rules) {
    let real = SocketAddr::from((node_ip(b, i), CLUSTER_PORT));
    let mut flows: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, src)) = listener.recv_from(&mut buf).await else {
            return;
        };
        // Which node sent it: its address tells.
        let Some(j) = (0..=62usize).find(|j| std::net::IpAddr::V4(node_ip(b, *j)) == src.ip())
        else {
            continue;
        };
        let flow = match flows.get(&src) {
            Some(f) => f.clone(),
            None => {
                let Ok(s) = UdpSocket::bind((proxy_ip(b, j), 0)).await else {
                    continue;
                };
                let s = Arc::new(s);
                tokio::spawn(back(
                    b,
                    i,
                    j,
                    s.clone(),
                    listener.clone(),
                    src,
                    rules.clone(),
                ));
                flows.insert(src, s.clone());
                s
            }
        };
        pass(&rules, &mut dice, (j, i), &buf[..n], &flow, real).await;
    }
}

/// Node i's replies to node j, back through i's proxy.
async fn back(
    b: u8,
    i: usize,
    j: usize,
    flow: Arc<UdpSocket>,
    listener: Arc<UdpSocket>,
    to: SocketAddr,
    rules: Rules,
) {
    let mut dice = Dice(0x2545_f491_4f6c_dd1d ^ ((i * 256 + j + b as usize) as u64));
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, _)) = flow.recv_from(&mut buf).await else {
            return;
        };
        pass(&rules, &mut dice, (i, j), &buf[..n], &listener, to).await;
    }
}
