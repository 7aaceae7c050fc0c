//! Free loopback ports, shared by the test binaries.

// Each test binary includes this file and uses only part of it.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};

/// A TCP address on `ip` that nothing listens on now.
pub fn free_tcp(ip: Ipv4Addr) -> SocketAddr {
    let l = std::net::TcpListener::bind((ip, 0)).expect("bind");
    l.local_addr().expect("addr")
}

/// A UDP address on `ip` that nothing is bound to now.
pub fn free_udp(ip: Ipv4Addr) -> SocketAddr {
    let s = std::net::UdpSocket::bind((ip, 0)).expect("bind");
    s.local_addr().expect("addr")
}

/// A port on 127.0.0.1 free for both TCP and UDP (WebTransport serves UDP
/// on the HTTP port number).
pub fn free_port() -> u16 {
    loop {
        let port = free_tcp(Ipv4Addr::LOCALHOST).port();
        if std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}
