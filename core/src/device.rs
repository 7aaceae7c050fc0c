//! What a session list shows of a device: a name from its User-Agent, a
//! coarse address, and the public handle of a session.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::ids::Id;

/// A person's name for the device behind a User-Agent: "Firefox on
/// Linux", "Safari on iPhone", or the product token of a native app or
/// tool ("kith-ios", "curl"). Empty or unknown agents are "Unknown device".
pub fn device_name(user_agent: &str) -> String {
    let ua = user_agent.trim();
    if ua.is_empty() {
        return "Unknown device".into();
    }
    let browser = browser(ua);
    let os = os(ua);
    match (browser, os) {
        (Some(b), Some(o)) => format!("{b} on {o}"),
        (Some(b), None) => b.to_string(),
        (None, _) => {
            // A non-browser client names itself first: "kith-ios/1.2 (...)".
            let product: String = ua
                .split(['/', ' ', '('])
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(40)
                .collect();
            if product.is_empty() {
                "Unknown device".into()
            } else {
                product
            }
        }
    }
}

fn browser(ua: &str) -> Option<&'static str> {
    // Order matters: Edge and Opera also say Chrome, Chrome also says
    // Safari, and every browser says Mozilla.
    let table: [(&str, &str); 8] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ];
    if !ua.starts_with("Mozilla/") {
        return None;
    }
    table
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name)
}

fn os(ua: &str) -> Option<&'static str> {
    let table: [(&str, &str); 8] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    table
        .iter()
        .find(|(needle, _)| ua.contains(needle))
        .map(|(_, name)| *name)
}

/// An address as a session list shows it: enough to tell home from work
/// or another country, not enough to find a house. IPv4 keeps its /24
/// ("203.0.113.x"), IPv6 its /48 (a site's prefix: "2001:db8:1::/48").
pub fn coarse_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.x")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => coarse_address(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

/// The public handle of a session: the first 63 bits of the SHA-256 of its
/// secret id. Lists and revocation name sessions by it, so that the
/// secret (the cookie's value) never reaches a page's script.
pub fn session_handle(session_id: &str) -> Id {
    let digest = Sha256::digest(session_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Id((u64::from_be_bytes(first) >> 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_devices() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            ("kith-ios/1.4 (iPhone; iOS 17.5)", "kith-ios"),
            ("curl/8.5.0", "curl"),
            ("", "Unknown device"),
            ("   ", "Unknown device"),
        ];
        for (ua, want) in cases {
            assert_eq!(device_name(ua), want, "{ua}");
        }
        assert!(device_name(&"x".repeat(500)).chars().count() <= 40);
    }

    #[test]
    fn coarse_addresses() {
        assert_eq!(
            coarse_address("203.0.113.77".parse().expect("ip")),
            "203.0.113.x"
        );
        assert_eq!(
            coarse_address("2001:db8:1:2:3:4:5:6".parse().expect("ip")),
            "2001:db8:1::/48"
        );
        assert_eq!(
            coarse_address("::ffff:198.51.100.9".parse().expect("ip")),
            "198.51.100.x"
        );
    }

    #[test]
    fn handles_are_stable_positive_and_distinct() {
        let a = session_handle("abc");
        assert_eq!(a, session_handle("abc"));
        assert!(a.0 >= 0);
        assert_ne!(a, session_handle("abd"));
    }
}
