//! The web client, embedded in the binary from `assets/`.
//!
//! Every file is served with a strong ETag (a hash of its bytes, computed
//! at build time by rust-embed) and answers `If-None-Match` with 304.
//! `index.html` is `no-cache` (always revalidated, so a deploy is picked up
//! at once), and its references to other files carry their version
//! (`/app.js?v=HASH`): a request whose `v` is the file's current hash may be
//! cached for a year (`immutable`); any other request for a file (a module
//! imported by another, say) is `no-cache`, revalidated by its ETag, so no
//! browser ever runs a stale mix of files. Unknown paths that are not under
//! `/api/` get `index.html`, so the client's own routes survive a reload.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::AppError;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The Content-Security-Policy the client is written to satisfy: nothing
/// inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The service worker (assets/sw.js), whose cache is named after the
/// release: `VERSION_MARK` in it becomes [`release`], so any change to
/// any file changes the worker's bytes, the browser installs the new one,
/// and it drops the old release's cache.
const SERVICE_WORKER: &str = "sw.js";
const VERSION_MARK: &str = "__ASSETS_VERSION__";

/// The hash of every embedded file's name and hash, computed once.
fn release() -> &'static str {
    static RELEASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    RELEASE.get_or_init(|| {
        use sha2::Digest;
        let mut names: Vec<_> = Assets::iter().collect();
        names.sort();
        let mut h = sha2::Sha256::new();
        for name in names {
            if let Some(f) = Assets::get(&name) {
                h.update(name.as_bytes());
                h.update(f.metadata.sha256_hash());
            }
        }
        hex(&h.finalize()[..8])
    })
}

/// A file's version: the start of the hash of its bytes.
fn version(hash: &[u8; 32]) -> String {
    hex(&hash[..8])
}

/// `index.html` with `src="/x"` and `href="/x"` references to embedded
/// files versioned as `/x?v=HASH`.
fn versioned(html: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    while let Some(i) = rest.find("=\"/") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail.find('"').unwrap_or(tail.len());
        let path = &tail[..end];
        out.push_str(path);
        if let Some(f) = Assets::get(path).filter(|_| !path.contains('?')) {
            out.push_str("?v=");
            out.push_str(&version(&f.metadata.sha256_hash()));
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path == "api" || path.starts_with("api/") {
        return AppError::NotFound(format!("no route for {}", uri.path())).into_response();
    }
    let (name, file) = match Assets::get(path).filter(|_| !path.is_empty() && path != "index.html")
    {
        Some(f) => (path, f),
        None => match Assets::get("index.html") {
            Some(f) => ("index.html", f),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
    };
    let hash = file.metadata.sha256_hash();
    let asked = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("v=")));
    let (cache, data, etag) = if name == SERVICE_WORKER {
        let js = String::from_utf8_lossy(&file.data).replace(VERSION_MARK, release());
        let etag = {
            use sha2::Digest;
            format!("\"{}\"", hex(&sha2::Sha256::digest(js.as_bytes())[..16]))
        };
        // Browsers check the worker for updates on every navigation; it
        // must never come from a cache.
        ("no-cache", js.into_bytes(), etag)
    } else if name == "index.html" {
        let html = versioned(&String::from_utf8_lossy(&file.data));
        let digest = {
            use sha2::Digest;
            sha2::Sha256::digest(html.as_bytes())
        };
        (
            "no-cache",
            html.into_bytes(),
            format!("\"{}\"", hex(&digest[..16])),
        )
    } else if asked == Some(version(&hash).as_str()) {
        (
            "public, max-age=31536000, immutable",
            file.data.into_owned(),
            format!("\"{}\"", hex(&hash[..16])),
        )
    } else {
        (
            "no-cache",
            file.data.into_owned(),
            format!("\"{}\"", hex(&hash[..16])),
        )
    };
    let mut res = if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mime = mime_guess::from_path(name).first_or_octet_stream();
        let mut res = data.into_response();
        if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
            res.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        res
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    res
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
