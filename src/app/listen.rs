//! Binds the HTTP listener (TCP) and WebTransport's socket (UDP) together.
//!
//! WebTransport shares the HTTP port number unless `--wt-listen` names
//! another, so `--listen 127.0.0.1:0` must find a number free on both
//! protocols. The kernel picks the TCP port; its UDP twin can already be
//! held by anything else on the box (an iroh endpoint, another node's
//! WebTransport, a DNS client), and on a busy machine it was: one start in
//! a few hundred failed with "address in use". So an ephemeral pick is
//! retried with a fresh TCP port; a port the operator chose is not.

use std::net::{SocketAddr, UdpSocket};

use anyhow::Context;
use tokio::net::TcpListener;

/// WebTransport's receive and send buffers, asked of the kernel. Every
/// session of the node shares this one UDP socket, where a TCP
/// connection has buffers of its own: at Linux's default (208 KiB) a node
/// holding 11,000 sessions, its core busy with sign-ups, dropped 770,000
/// datagrams in 3 minutes, and QUIC took the drops for loss (pongs 20 s
/// late, 29 sessions timed out; bench/README.md, "Capacity"). 8 MiB holds
/// 40 times as many datagrams; Linux grants at most twice
/// `net.core.rmem_max` (and `wmem_max`), and the start warns when that is
/// less.
pub const UDP_BUFFER: usize = 8 << 20;

/// Fresh TCP picks tried before giving up. The ephemeral range has
/// ~28,000 ports; a UDP collision on one pick is rare, on 32 in a row it
/// means something else is wrong and the error says so.
const EPHEMERAL_TRIES: usize = 32;

/// What the node listens on.
pub struct Listeners {
    pub tcp: TcpListener,
    /// WebTransport's socket; `None` when WebTransport is off.
    pub udp: Option<UdpSocket>,
}

/// Where WebTransport listens: an address, where port 0 means "the HTTP
/// port".
pub async fn resolve_wt(spec: Option<&str>, http: SocketAddr) -> anyhow::Result<SocketAddr> {
    match spec {
        None => Ok(SocketAddr::new(http.ip(), 0)),
        Some(spec) => tokio::net::lookup_host(spec)
            .await
            .with_context(|| format!("--wt-listen {spec}"))?
            .next()
            .with_context(|| format!("--wt-listen {spec}: no address")),
    }
}

/// Binds `http`, and `wt` (if any) where port 0 follows the TCP port.
pub async fn bind(http: SocketAddr, wt: Option<SocketAddr>) -> anyhow::Result<Listeners> {
    bind_with(http, wt, async || TcpListener::bind(http).await).await
}

/// `bind`, with the TCP side from `tcp` (a test hands out a port whose UDP
/// twin it holds).
async fn bind_with(
    http: SocketAddr,
    wt: Option<SocketAddr>,
    mut tcp: impl AsyncFnMut() -> std::io::Result<TcpListener>,
) -> anyhow::Result<Listeners> {
    let follows = wt.is_some_and(|w| w.port() == 0);
    let tries = if follows && http.port() == 0 {
        EPHEMERAL_TRIES
    } else {
        1
    };
    let mut last = None;
    for _ in 0..tries {
        let tcp = tcp().await.with_context(|| format!("listen on {http}"))?;
        let Some(wt) = wt else {
            return Ok(Listeners { tcp, udp: None });
        };
        let port = if follows {
            tcp.local_addr()?.port()
        } else {
            wt.port()
        };
        let at = SocketAddr::new(wt.ip(), port);
        match UdpSocket::bind(at) {
            Ok(udp) => {
                widen(&udp);
                return Ok(Listeners {
                    tcp,
                    udp: Some(udp),
                });
            }
            Err(e) => {
                let in_use = e.kind() == std::io::ErrorKind::AddrInUse;
                let e = anyhow::Error::new(e).context(format!("WebTransport on udp {at}"));
                if !in_use {
                    return Err(e);
                }
                last = Some(e);
            }
        }
    }
    Err(last.expect("at least one try").context(format!(
        "no port free on both TCP and UDP after {tries} tries"
    )))
}

/// Asks for [`UDP_BUFFER`] each way on WebTransport's socket; warns with
/// the setting to raise when the kernel grants less.
fn widen(udp: &UdpSocket) {
    let sock = socket2::SockRef::from(udp);
    let asked = [
        (
            "receive",
            "net.core.rmem_max",
            sock.set_recv_buffer_size(UDP_BUFFER),
            sock.recv_buffer_size(),
        ),
        (
            "send",
            "net.core.wmem_max",
            sock.set_send_buffer_size(UDP_BUFFER),
            sock.send_buffer_size(),
        ),
    ];
    for (way, sysctl, set, got) in asked {
        match (set, got) {
            (Ok(()), Ok(got)) if got >= UDP_BUFFER => {}
            (_, got) => tracing::warn!(
                granted = got.unwrap_or(0),
                asked = UDP_BUFFER,
                "WebTransport's UDP {way} buffer is smaller than asked: with many sessions a busy node drops datagrams; raise {sysctl} to {} or more",
                UDP_BUFFER / 2
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCAL: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

    /// A UDP port held by someone else makes an ephemeral bind move on to
    /// another number rather than fail: the first TCP port handed out has
    /// its UDP twin held; the second is free.
    #[tokio::test]
    async fn an_ephemeral_port_taken_on_udp_is_retried() {
        let first = TcpListener::bind(LOCAL).await.expect("tcp");
        let taken = first.local_addr().expect("addr").port();
        let _held = UdpSocket::bind(SocketAddr::new(LOCAL.ip(), taken)).expect("udp");
        let mut offers = vec![first];
        let mut calls = 0;
        let got = bind_with(LOCAL, Some(LOCAL), async || {
            calls += 1;
            match offers.pop() {
                Some(l) => Ok(l),
                None => TcpListener::bind(LOCAL).await,
            }
        })
        .await
        .expect("bound");
        assert_eq!(calls, 2, "one retry");
        let tcp = got.tcp.local_addr().expect("tcp addr").port();
        let udp = got.udp.expect("udp").local_addr().expect("udp addr").port();
        assert_eq!(tcp, udp, "WebTransport shares the HTTP port");
        assert_ne!(udp, taken, "the held UDP port is not reused");
    }

    /// WebTransport's socket gets the buffers asked for, as far as the
    /// kernel allows (twice its maximum; Linux reports the doubled size).
    #[tokio::test]
    async fn the_webtransport_socket_has_wide_buffers() {
        let got = bind(LOCAL, Some(LOCAL)).await.expect("bound");
        let udp = got.udp.expect("udp");
        let sock = socket2::SockRef::from(&udp);
        let allowed = |path: &str| {
            std::fs::read_to_string(path)
                .expect("the kernel's maximum")
                .trim()
                .parse::<usize>()
                .expect("a number")
                * 2
        };
        let recv = sock.recv_buffer_size().expect("receive buffer");
        let send = sock.send_buffer_size().expect("send buffer");
        assert!(
            recv >= UDP_BUFFER.min(allowed("/proc/sys/net/core/rmem_max")),
            "{recv}"
        );
        assert!(
            send >= UDP_BUFFER.min(allowed("/proc/sys/net/core/wmem_max")),
            "{send}"
        );
    }

    /// A port the operator chose is not swapped for another: taken on UDP,
    /// the start fails and names the address.
    #[tokio::test]
    async fn a_chosen_port_taken_on_udp_fails_with_the_address() {
        let held = UdpSocket::bind(LOCAL).expect("udp");
        let port = held.local_addr().expect("addr").port();
        let wt = SocketAddr::new(LOCAL.ip(), port);
        let err = bind(LOCAL, Some(wt)).await.err().expect("refused");
        assert!(
            format!("{err:#}").contains(&format!("udp 127.0.0.1:{port}")),
            "{err:#}"
        );
    }
}
