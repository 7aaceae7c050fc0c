//! Which addresses the server may fetch from on a user's behalf (link
//! previews): never itself, the machines beside it or a cloud's metadata
//! service, whatever a URL, a DNS answer or a redirect says. The rule is
//! checked on every address a name resolves to and on every redirect hop,
//! and the connection is made to the address checked (no second lookup
//! for a rebinding DNS server to answer differently).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused, if it is.
pub fn refused(ip: IpAddr, allow_private: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4, allow_private),
        IpAddr::V6(v6) => refused_v6(v6, allow_private),
    }
}

fn refused_v4(ip: Ipv4Addr, allow_private: bool) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    // Never, whatever the flag: the cloud metadata service lives in the
    // link-local range (169.254.169.254), and the rest is not a host.
    if ip.is_link_local() {
        return Some("link-local (metadata) address");
    }
    if ip.is_unspecified() || a == 0 {
        return Some("unspecified address");
    }
    if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        return Some("multicast, broadcast or reserved address");
    }
    let documentation =
        (a, b, c) == (192, 0, 2) || (a, b, c) == (198, 51, 100) || (a, b, c) == (203, 0, 113);
    if documentation || (a, b, c) == (192, 0, 0) || (a == 198 && (b & 0xfe) == 18) {
        return Some("reserved address");
    }
    let private = ip.is_loopback() || ip.is_private() || (a == 100 && (b & 0xc0) == 64);
    if private && !allow_private {
        return Some("loopback or private address");
    }
    None
}

fn refused_v6(ip: Ipv6Addr, allow_private: bool) -> Option<&'static str> {
    // IPv4 written as IPv6 is judged as the IPv4 it is: mapped
    // (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and
    // 6to4 (2002::/16, the address in bits 16..48).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4, allow_private);
    }
    let s = ip.segments();
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_unspecified() && !ip.is_loopback() {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return refused_v4(v4, allow_private);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return refused_v4(v4, allow_private);
    }
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return refused_v4(v4, allow_private);
    }
    // AWS's metadata service over IPv6.
    if s == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        return Some("metadata address");
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        return Some("link-local address");
    }
    if ip.is_unspecified() {
        return Some("unspecified address");
    }
    if ip.is_multicast() {
        return Some("multicast address");
    }
    // Documentation (2001:db8::/32) and Teredo (2001::/32, which hides an
    // IPv4 address behind a relay).
    if (s[0], s[1]) == (0x2001, 0x0db8) || (s[0], s[1]) == (0x2001, 0) {
        return Some("reserved address");
    }
    let private = ip.is_loopback() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfec0;
    if private && !allow_private {
        return Some("loopback or private address");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no(ip: &str, allow: bool) -> bool {
        refused(ip.parse().expect("an address"), allow).is_some()
    }

    #[test]
    fn refuses_what_is_not_the_public_internet() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::127.0.0.1",
            "ff02::1",
        ] {
            assert!(no(ip, false), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!no(ip, false), "{ip} is public");
        }
    }

    #[test]
    fn the_private_flag_never_opens_metadata_or_link_local() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "::1",
            "fd12::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(!no(ip, true), "{ip} is allowed for tests and intranets");
        }
        for ip in [
            "169.254.169.254",
            "fd00:ec2::254",
            "fe80::1",
            "0.0.0.0",
            "::ffff:169.254.1.1",
        ] {
            assert!(no(ip, true), "{ip} stays refused");
        }
    }
}
