//! Connections kith opens on a user's behalf (link previews, Web Push):
//! only http and https, every address a name resolves to checked against
//! [`kith_core::netguard`] and the connection made to the checked one (no
//! second lookup for a rebinding DNS server to answer differently), TLS
//! verified against the web's roots.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::Url;

use kith_core::netguard;

/// Why a URL was not fetched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("failed: {0}")]
    Failed(String),
}

pub(crate) fn refused(m: impl Into<String>) -> FetchError {
    FetchError::Refused(m.into())
}

pub(crate) fn failed(m: impl std::fmt::Display) -> FetchError {
    FetchError::Failed(m.to_string())
}

/// The address to connect to for `url`, once every address its host
/// names has passed the guard.
pub async fn vet(url: &Url, allow_private: bool) -> Result<SocketAddr, FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused(format!("scheme {}", url.scheme())));
    }
    // Any port: the address rule is what keeps a fetch off this machine
    // and its neighbours, and public sites live on 8080 too.
    let port = url.port_or_known_default().unwrap_or(0);
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refused("credentials in the URL"));
    }
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(d)) => tokio::net::lookup_host((d, port))
            .await
            .map_err(|e| failed(format!("resolving {d}: {e}")))?
            .collect(),
        None => return Err(refused("no host")),
    };
    // Every answer must pass: a name that also resolves somewhere refused
    // is refused, whichever address a connection would have picked.
    for a in &addrs {
        if let Some(why) = netguard::refused(a.ip(), allow_private) {
            return Err(refused(format!("{} is a {why}", a.ip())));
        }
    }
    addrs.into_iter().next().ok_or_else(|| failed("no address"))
}

/// A connection, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

fn tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth());
            match config {
                Ok(c) => Arc::new(c),
                Err(_) => unreachable!("ring supports the default protocol versions"),
            }
        })
        .clone()
}

/// Connects to `addr` (from [`vet`]) for `url`, with TLS for https.
pub async fn connect(url: &Url, addr: SocketAddr) -> Result<Box<dyn Stream>, FetchError> {
    let tcp = TcpStream::connect(addr).await.map_err(failed)?;
    if url.scheme() == "https" {
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| refused(format!("server name: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(tls())
            .connect(name, tcp)
            .await
            .map_err(failed)?;
        Ok(Box::new(stream))
    } else {
        Ok(Box::new(tcp))
    }
}

/// The request line's target (path and query) and the `Host` header of `url`.
pub fn target(url: &Url) -> (String, String) {
    let mut path = url.path().to_owned();
    if let Some(q) = url.query() {
        path.push('?');
        path.push_str(q);
    }
    let host = match url.port() {
        Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    (path, host)
}
