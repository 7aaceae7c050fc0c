//! Fetching a page's head for its card, safely: only http and https,
//! every address a name resolves to checked
//! ([`kith_core::netguard`]) and the connection made to the checked one,
//! at most [`MAX_REDIRECTS`] redirects each checked the same way, one
//! deadline for everything, and at most [`MAX_BYTES`] read.
//!
//! HTTP/1.0 by hand: a preview needs one GET of one page, and 1.0 answers
//! come without chunking or compression, so the reader stays a few lines
//! that cannot be talked into reading without bound.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use url::Url;

pub use crate::outbound::FetchError;
use crate::outbound::{self, failed, refused, vet};

/// Everything, redirects included: a preview that takes longer is not
/// worth a worker's time.
pub const DEADLINE: Duration = Duration::from_secs(5);
/// A page's head is far smaller; the meta tags a card needs come first.
pub const MAX_BYTES: usize = 512 * 1024;
/// A card's image: sites serve Open Graph images of 100-500 KB; 5 MiB
/// leaves room for a large PNG without letting a link make a worker read
/// a video.
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
pub const MAX_REDIRECTS: usize = 3;

/// What a fetch is for: a page's head, or a whole image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    Page,
    Image,
}

/// The HTML head of `url` (up to [`MAX_BYTES`]) and the URL it was
/// finally read from.
pub async fn fetch(url: &str, allow_private: bool) -> Result<(String, Url), FetchError> {
    let (body, url) = tokio::time::timeout(DEADLINE, follow(url, allow_private, Want::Page))
        .await
        .map_err(|_| failed("took too long"))??;
    Ok((String::from_utf8_lossy(&body).to_string(), url))
}

/// The bytes of the image at `url` (at most [`MAX_IMAGE_BYTES`], served as
/// `image/*`), under the same rules and deadline as a page.
pub async fn fetch_image(url: &str, allow_private: bool) -> Result<Vec<u8>, FetchError> {
    let (body, _) = tokio::time::timeout(DEADLINE, follow(url, allow_private, Want::Image))
        .await
        .map_err(|_| failed("took too long"))??;
    Ok(body)
}

async fn follow(url: &str, allow_private: bool, want: Want) -> Result<(Vec<u8>, Url), FetchError> {
    let mut url = Url::parse(url).map_err(|e| refused(format!("not a URL: {e}")))?;
    for _ in 0..=MAX_REDIRECTS {
        let addr = vet(&url, allow_private).await?;
        match get(&url, addr, want).await? {
            Answer::Body(body) => return Ok((body, url)),
            Answer::Redirect(to) => {
                url = url
                    .join(&to)
                    .map_err(|e| refused(format!("a bad redirect: {e}")))?;
            }
        }
    }
    Err(refused("too many redirects"))
}

enum Answer {
    Body(Vec<u8>),
    Redirect(String),
}

async fn get(url: &Url, addr: SocketAddr, want: Want) -> Result<Answer, FetchError> {
    exchange(url, outbound::connect(url, addr).await?, want).await
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    url: &Url,
    mut s: S,
    want: Want,
) -> Result<Answer, FetchError> {
    let (path, host) = outbound::target(url);
    let (accept, max) = match want {
        Want::Page => ("text/html", MAX_BYTES),
        Want::Image => ("image/webp,image/png,image/jpeg,image/gif", MAX_IMAGE_BYTES),
    };
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: kith-link-preview/1\r\n\
         Accept: {accept}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.map_err(failed)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut chunk).await.map_err(failed)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        // The head of a page is all a card needs; an image is whole or
        // nothing (the headers' few hundred bytes are allowed for).
        if want == Want::Page && (buf.len() >= max || contains(&buf, b"</head>")) {
            break;
        }
        if want == Want::Image && buf.len() > max + 16 * 1024 {
            return Err(failed(format!("an image over {max} bytes")));
        }
    }
    if want == Want::Page {
        buf.truncate(max);
    }
    let split = find(&buf, b"\r\n\r\n").ok_or_else(|| failed("no headers"))?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let body = &buf[split + 4..];
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| failed("no status"))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    if (300..400).contains(&status) {
        let to = header("location").ok_or_else(|| failed("a redirect without a location"))?;
        return Ok(Answer::Redirect(to));
    }
    if status != 200 {
        return Err(failed(format!("status {status}")));
    }
    let kind = header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    match want {
        Want::Page
            if !kind.starts_with("text/html") && !kind.starts_with("application/xhtml+xml") =>
        {
            return Err(failed("not an HTML page"));
        }
        // SVG is an image type but a document: never decoded here.
        Want::Image if !kind.starts_with("image/") || kind.starts_with("image/svg") => {
            return Err(failed(format!("not an image: {kind}")));
        }
        Want::Image if body.len() > max => {
            return Err(failed(format!("an image over {max} bytes")));
        }
        _ => {}
    }
    Ok(Answer::Body(body.to_vec()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    // Only the tail can hold a new match; the rest was searched before.
    let from = hay.len().saturating_sub(32 * 1024 + needle.len());
    find(&hay[from..], needle).is_some()
}
