//! The client's address: the TCP peer, or what a trusted proxy in front of
//! kith reports.
//!
//! Behind a proxy every connection comes from the proxy, so limits per
//! address would lump all clients together: `--trust-proxy` names the
//! header the proxy puts the client in. Without it the headers are ignored,
//! since any client can send them.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::error::AppError;
use crate::limits::TrustProxy;
use crate::state::AppState;

/// The client's address (see [`client_ip`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "no peer address: the server must insert ConnectInfo"
                ))
            })?;
        Ok(ClientIp(client_ip(
            peer,
            &parts.headers,
            state.config.limits.trust_proxy,
        )))
    }
}

/// Who sent a request that arrived from `peer`: the address the trusted
/// proxy reports, or `peer` itself when it reports none (a request that did
/// not pass through the proxy).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trust: TrustProxy) -> IpAddr {
    let reported = match trust {
        TrustProxy::None => None,
        TrustProxy::Fly => headers
            .get("fly-client-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_addr),
        // Each proxy appends the address it was reached from: the last
        // entry is the one the proxy in front wrote; earlier ones are the
        // client's to invent.
        TrustProxy::XForwardedFor => headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(parse_addr),
    };
    reported.unwrap_or(peer)
}

/// An address as proxies write it: bare, or with a port (`192.0.2.1:443`,
/// `[2001:db8::1]:443`).
fn parse_addr(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn headers_count_only_when_trusted() {
        let peer = ip("10.0.0.9");
        let mut h = HeaderMap::new();
        h.insert("fly-client-ip", HeaderValue::from_static("203.0.113.7"));
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("1.1.1.1, 198.51.100.2"),
        );
        assert_eq!(client_ip(peer, &h, TrustProxy::None), peer);
        assert_eq!(client_ip(peer, &h, TrustProxy::Fly), ip("203.0.113.7"));
        assert_eq!(
            client_ip(peer, &h, TrustProxy::XForwardedFor),
            ip("198.51.100.2")
        );
        // The last header line's last entry.
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::1]:443"),
        );
        assert_eq!(
            client_ip(peer, &h, TrustProxy::XForwardedFor),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn missing_or_garbled_headers_fall_back_to_the_peer() {
        let peer = ip("10.0.0.9");
        let mut h = HeaderMap::new();
        assert_eq!(client_ip(peer, &h, TrustProxy::Fly), peer);
        assert_eq!(client_ip(peer, &h, TrustProxy::XForwardedFor), peer);
        h.insert("fly-client-ip", HeaderValue::from_static("not an address"));
        h.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1, "));
        assert_eq!(client_ip(peer, &h, TrustProxy::Fly), peer);
        assert_eq!(client_ip(peer, &h, TrustProxy::XForwardedFor), peer);
    }
}
