//! Serving media files: `Accept-Ranges`, single-range `206` answers, `416`
//! for ranges past the end, ETag / `If-None-Match`, and caching headers.
//! Files are streamed, never read whole.

use std::io::SeekFrom;
use std::path::Path;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::error::AppError;

/// The range asked for lies outside the file (416).
#[derive(Debug, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A byte range `start..=end` of a file of `len` bytes; `Err` when the
/// range cannot be satisfied (416); `Ok(None)` when the header should be
/// ignored (malformed, or several ranges).
pub fn parse_range(header: &str, len: u64) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        // The last N bytes.
        (true, false) => {
            let Ok(n) = b.parse::<u64>() else {
                return Ok(None);
            };
            if n == 0 || len == 0 {
                return Err(Unsatisfiable);
            }
            (len.saturating_sub(n), len - 1)
        }
        (false, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return Ok(None);
            };
            let end = if b.is_empty() {
                len.saturating_sub(1)
            } else {
                match b.parse::<u64>() {
                    Ok(e) => e.min(len.saturating_sub(1)),
                    Err(_) => return Ok(None),
                }
            };
            if start >= len || start > end {
                return Err(Unsatisfiable);
            }
            (start, end)
        }
        (true, true) => return Ok(None),
    };
    Ok(Some(range))
}

/// Serves `path` with `content_type` and `cache_control`.
pub async fn file(
    path: &Path,
    content_type: &'static str,
    cache_control: &'static str,
    headers: &HeaderMap,
) -> Result<Response, AppError> {
    let mut f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AppError::not_found("media"));
        }
        Err(e) => return Err(AppError::Internal(e.into())),
    };
    let meta = f
        .metadata()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let len = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    // Outputs never change once renamed into place: size and time suffice.
    let etag = format!("\"{len:x}-{mtime:x}\"");
    respond(
        Meta {
            len,
            etag,
            content_type,
            cache_control,
        },
        headers,
        |range| async move {
            match range {
                None => Ok(Body::from_stream(ReaderStream::new(f))),
                Some((start, end)) => {
                    f.seek(SeekFrom::Start(start))
                        .await
                        .map_err(|e| AppError::Internal(e.into()))?;
                    Ok(Body::from_stream(ReaderStream::new(
                        f.take(end - start + 1),
                    )))
                }
            }
        },
    )
    .await
}

/// What the headers of a stored output are made of.
pub struct Meta {
    pub len: u64,
    /// A quoted entity tag.
    pub etag: String,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// Answers a GET for a stored output of `meta.len` bytes: 304 when the
/// client's copy is current, 416 for a range past the end, 206 for one
/// range, 200 otherwise. `body` opens the bytes: all of them (`None`) or
/// `start..=end`.
pub async fn respond<F, Fut>(meta: Meta, headers: &HeaderMap, body: F) -> Result<Response, AppError>
where
    F: FnOnce(Option<(u64, u64)>) -> Fut,
    Fut: Future<Output = Result<Body, AppError>>,
{
    let Meta {
        len,
        etag,
        content_type,
        cache_control,
    } = meta;
    let mut base = HeaderMap::new();
    base.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    base.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    base.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        base.insert(header::ETAG, v);
    }
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, base).into_response());
    }
    // If-Range with another validator: send the whole file.
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.trim() == etag);
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(r) if if_range_ok => parse_range(r, len),
        _ => Ok(None),
    };
    match range {
        Err(Unsatisfiable) => {
            let mut h = base;
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            Ok((StatusCode::RANGE_NOT_SATISFIABLE, h).into_response())
        }
        Ok(None) => {
            base.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
            Ok((StatusCode::OK, base, body(None).await?).into_response())
        }
        Ok(Some((start, end))) => {
            base.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start + 1));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                base.insert(header::CONTENT_RANGE, v);
            }
            let body = body(Some((start, end))).await?;
            Ok((StatusCode::PARTIAL_CONTENT, base, body).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Unsatisfiable, parse_range};

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=-5000", 1000), Ok(Some((0, 999))));
        assert_eq!(parse_range("bytes=0-5000", 1000), Ok(Some((0, 999))));
        assert_eq!(parse_range("bytes=1000-", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=5-4", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 1000), Err(Unsatisfiable));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(parse_range("items=0-1", 1000), Ok(None));
        assert_eq!(parse_range("bytes=x-1", 1000), Ok(None));
        assert_eq!(parse_range("bytes=-", 1000), Ok(None));
    }
}
