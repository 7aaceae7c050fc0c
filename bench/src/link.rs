//! A load-generator user's realtime link, over either transport the web
//! client uses (assets/realtime.js): WebTransport where the server offers
//! it, WebSocket otherwise. Both carry the same JSON frames; on
//! WebTransport they are newline-delimited on the first bidirectional
//! stream, and typing and presence may come as datagrams.
//!
//! A WebTransport session costs the server no descriptor (every session
//! shares its one UDP socket), which is what lets one process on a machine
//! with a 20,000 open-file limit hold more users than that.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;
use wtransport::endpoint::ConnectOptions;
use wtransport::endpoint::endpoint_side::Client;
use wtransport::{ClientConfig, Connection, Endpoint, RecvStream, SendStream, VarInt};

/// A WebSocket client's connection, plain or TLS.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The longest line read before a newline: the server's own frame limit
/// is 64 KiB, so anything longer is a broken stream.
const MAX_LINE: usize = 256 * 1024;

/// What reading a link gives.
pub enum Event {
    /// A frame's text.
    Text(String),
    /// The link is gone, and why.
    Lost(String),
}

pub enum Link {
    Ws(Box<Ws>),
    Wt(Box<WtLink>),
}

pub struct WtLink {
    conn: Connection,
    send: SendStream,
    recv: RecvStream,
    /// Bytes read past the last whole line.
    buf: Vec<u8>,
}

impl Link {
    pub async fn send(&mut self, text: String) -> anyhow::Result<()> {
        match self {
            Link::Ws(ws) => ws.send(Message::text(text)).await?,
            Link::Wt(wt) => {
                let mut line = text.into_bytes();
                line.push(b'\n');
                wt.send.write_all(&line).await?;
            }
        }
        Ok(())
    }

    /// The next frame. Cancel-safe (it runs in the user's `select!`): what
    /// has been read of a partial line stays in the link's buffer.
    pub async fn next(&mut self) -> Event {
        match self {
            Link::Ws(ws) => loop {
                return match ws.next().await {
                    Some(Ok(Message::Text(t))) => Event::Text(t.to_string()),
                    Some(Ok(Message::Close(f))) => {
                        Event::Lost(format!("closed by the server: {f:?}"))
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => Event::Lost(format!("read error: {e}")),
                    None => Event::Lost("connection ended".into()),
                };
            },
            Link::Wt(wt) => wt.next().await,
        }
    }

    /// Leaves: with a close frame if `clean`. A WebTransport session has
    /// no unclean way out short of losing the network; dropping it closes
    /// it (QUIC closes a connection whose last handle is dropped), so both
    /// send the close.
    pub async fn close(self, clean: bool) {
        match self {
            Link::Ws(mut ws) => {
                let ws: &mut Ws = &mut ws;
                if clean {
                    let _ = tokio::time::timeout(Duration::from_secs(2), async {
                        let _ = ws.close(None).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                }
            }
            Link::Wt(wt) => wt.conn.close(VarInt::from_u32(0), b""),
        }
    }
}

impl WtLink {
    async fn next(&mut self) -> Event {
        loop {
            if let Some(line) = take_line(&mut self.buf) {
                return Event::Text(line);
            }
            if self.buf.len() > MAX_LINE {
                return Event::Lost(format!("a line longer than {MAX_LINE} bytes"));
            }
            tokio::select! {
                r = self.recv.read_buf(&mut self.buf) => match r {
                    Ok(0) => return Event::Lost("stream ended".into()),
                    Ok(_) => {}
                    Err(e) => return Event::Lost(format!("read error: {e}")),
                },
                d = self.conn.receive_datagram() => match d {
                    Ok(d) => return Event::Text(String::from_utf8_lossy(&d.payload()).into_owned()),
                    Err(e) => return Event::Lost(format!("session ended: {e}")),
                },
            }
        }
    }
}

/// The first whole line in `buf`, taken out of it without its newline.
fn take_line(buf: &mut Vec<u8>) -> Option<String> {
    let i = buf.iter().position(|&b| b == b'\n')?;
    let line: Vec<u8> = buf.drain(..=i).collect();
    Some(String::from_utf8_lossy(&line[..i]).into_owned())
}

/// The client endpoints a run opens its WebTransport sessions from, one
/// per source address (one UDP socket each), trusting the certificate
/// hashes the server published.
pub struct WtClients {
    endpoints: Vec<Endpoint<Client>>,
}

impl WtClients {
    /// From what `/api/realtime/config` published (`config`).
    pub fn new(sources: &[IpAddr], config: &serde_json::Value) -> anyhow::Result<WtClients> {
        let digests = config["webtransport"]["cert_hashes"]
            .as_array()
            .context("no certificate hashes")?
            .iter()
            .map(|h| digest(h["value"].as_str().context("a hash without a value")?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let any = [IpAddr::from([127, 0, 0, 1])];
        let sources = if sources.is_empty() {
            &any[..]
        } else {
            sources
        };
        let endpoints = sources
            .iter()
            .map(|ip| {
                let cfg = ClientConfig::builder()
                    .with_bind_address(SocketAddr::new(*ip, 0))
                    .with_server_certificate_hashes(digests.iter().cloned())
                    .keep_alive_interval(Some(Duration::from_secs(15)))
                    .build();
                Endpoint::client(cfg).context("a WebTransport client endpoint")
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(WtClients { endpoints })
    }

    /// Opens a session to `url` with `ticket` from endpoint `which` (mod
    /// their number), its first stream, and reads until the `hello`.
    pub async fn connect(
        &self,
        which: usize,
        url: &str,
        ticket: &str,
        origin: &str,
    ) -> anyhow::Result<Link> {
        let endpoint = &self.endpoints[which % self.endpoints.len()];
        let opts = ConnectOptions::builder(format!("{url}?ticket={ticket}"))
            .add_header("origin", origin)
            .build();
        let conn = endpoint.connect(opts).await?;
        let (send, recv) = conn.open_bi().await?.await?;
        let mut wt = WtLink {
            conn,
            send,
            recv,
            buf: Vec::new(),
        };
        // The server speaks once the stream carries data: a ping first,
        // as the web client sends.
        wt.send.write_all(b"{\"type\":\"ping\"}\n").await?;
        loop {
            match wt.next().await {
                Event::Text(t) => {
                    let v: serde_json::Value = serde_json::from_str(&t)
                        .with_context(|| format!("a frame that is not JSON: {t}"))?;
                    if v["type"] == "hello" {
                        return Ok(Link::Wt(Box::new(wt)));
                    }
                }
                Event::Lost(why) => bail!("before hello: {why}"),
            }
        }
    }
}

/// The WebTransport URL `/api/realtime/config` published.
pub fn published_url(config: &serde_json::Value) -> anyhow::Result<&str> {
    config["webtransport"]["url"]
        .as_str()
        .context("no webtransport url")
}

/// A published certificate hash (base64 of SHA-256), as the client trusts it.
fn digest(b64: &str) -> anyhow::Result<wtransport::tls::Sha256Digest> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64)?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("a certificate hash of other than 32 bytes"))?;
    Ok(wtransport::tls::Sha256Digest::new(arr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_come_out_whole_in_order_and_a_partial_one_waits() {
        let mut buf = b"{\"type\":\"pong\"}\n{\"type\":\"hel".to_vec();
        assert_eq!(take_line(&mut buf).as_deref(), Some(r#"{"type":"pong"}"#));
        // The rest of the line has not come yet: it stays.
        assert_eq!(take_line(&mut buf), None);
        assert_eq!(buf, b"{\"type\":\"hel");
        buf.extend_from_slice(b"lo\"}\n\n");
        assert_eq!(take_line(&mut buf).as_deref(), Some(r#"{"type":"hello"}"#));
        assert_eq!(take_line(&mut buf).as_deref(), Some(""));
        assert_eq!(take_line(&mut buf), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_published_hash_decodes_to_its_32_bytes() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(digest(&b64).is_ok());
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 31]);
        assert!(digest(&short).is_err());
        assert!(digest("not base64!").is_err());
    }
}
