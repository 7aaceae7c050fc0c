//! HTTP plumbing shared by every route: extractors whose rejections are
//! `AppError`s, cursor pagination, the cross-origin check, the client's
//! address ([`client_ip`]) and the server loop ([`serve`]).

pub mod bearer;
pub mod client_ip;
pub mod idempotency;
pub mod metrics;
pub mod request_id;
pub mod serve;
pub mod timeout;
pub mod write_limit;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::AppError;
use kith_core::ids::Id;

/// `axum::Json` with kith's error responses (400 malformed, 422 wrong
/// shape, 413 too large, 415 wrong content type).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct Json<T>(pub T);

/// The first buffer of a JSON body. axum's `Json` starts at 128 bytes and
/// writes through a `BytesMut` writer; a feed page (about 10 KiB) then grew
/// and copied its buffer seven times, and the copies were 5% of a feed
/// read's CPU. A `Vec` of 4 KiB grows twice for such a page, and is handed
/// to the body without a copy.
const JSON_BUFFER: usize = 4096;

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(JSON_BUFFER);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => JsonBytes(body).into_response(),
            Err(e) => {
                AppError::Internal(anyhow::Error::new(e).context("writing JSON")).into_response()
            }
        }
    }
}

/// A body already written as JSON (by a writer that shares parts of it
/// between responses), sent as `application/json`.
pub struct JsonBytes(pub Vec<u8>);

impl IntoResponse for JsonBytes {
    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

/// `axum::extract::Path`; a segment that does not parse is a 404.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query`; a bad parameter is a 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct Query<T>(pub T);

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

/// `?limit=&cursor=` on every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// A validated page request. `cursor` is the id of the last item of the
/// previous page; a list that runs newest first continues below it, one that
/// runs oldest first continues above it.
#[derive(Clone, Copy, Debug)]
pub struct PageReq {
    pub limit: u32,
    pub cursor: Option<i64>,
}

impl PageReq {
    /// For newest-first lists: ids below this.
    pub fn before(&self) -> i64 {
        self.cursor.unwrap_or(i64::MAX)
    }
    /// For oldest-first lists: ids above this.
    pub fn after(&self) -> i64 {
        self.cursor.unwrap_or(-1)
    }
    /// Rows to fetch: one more than the page, to tell whether there is a next.
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
}

impl PageParams {
    pub fn resolve(&self) -> Result<PageReq, AppError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AppError::BadRequest(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        let cursor = match &self.cursor {
            None => None,
            Some(c) => Some(
                c.parse::<Id>()
                    .map_err(|_| AppError::BadRequest("invalid cursor".into()))?
                    .0,
            ),
        };
        Ok(PageReq { limit, cursor })
    }
}

/// A page of a list: `{"items":[…],"next_cursor":…|null}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched newest first: the
    /// extra row only tells that there is a next page.
    pub fn from_rows(mut rows: Vec<T>, req: PageReq, id_of: impl Fn(&T) -> Id) -> Self {
        let more = rows.len() > req.limit as usize;
        rows.truncate(req.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| id_of(r).to_string())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

/// Marks a request authenticated by `Authorization: Bearer` ([`bearer`]):
/// it carries no cookie, so no other site can forge it.
#[derive(Clone, Copy, Debug)]
pub struct Bearer;

/// Refuses a state-changing request sent from another origin (CSRF).
///
/// Browsers send `Origin` on every cross-origin request and on same-origin
/// non-GET requests; when it names a different host than the one the
/// request was sent to, the request came from another site's page. `Origin:
/// null` (sandboxed frames, some redirects) is refused too, and so is
/// `Sec-Fetch-Site: cross-site` where a browser sent no Origin.
pub async fn reject_cross_origin(req: Request, next: Next) -> Response {
    if is_safe_method(req.method()) || req.extensions().get::<Bearer>().is_some() {
        return next.run(req).await;
    }
    let headers = req.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let cross = match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        Some(Ok(origin)) => !same_origin(origin, host),
        Some(Err(_)) => true,
        None => headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site"),
    };
    if cross {
        return AppError::Forbidden("cross-origin request refused".into()).into_response();
    }
    next.run(req).await
}

pub(crate) fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether `origin` (scheme://host[:port]) names the host the request was
/// addressed to.
pub fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https") || authority.contains('/') {
        return false;
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let strip = |a: &str| -> String {
        a.strip_suffix(default_port)
            .unwrap_or(a)
            .to_ascii_lowercase()
    };
    strip(authority) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_matching() {
        assert!(same_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(same_origin(
            "https://kith.example",
            Some("kith.example:443")
        ));
        assert!(same_origin("http://Kith.Example", Some("kith.example")));
        assert!(!same_origin("http://evil.example", Some("kith.example")));
        assert!(!same_origin(
            "http://127.0.0.1:9999",
            Some("127.0.0.1:8080")
        ));
        assert!(!same_origin("null", Some("kith.example")));
        assert!(!same_origin("http://kith.example", None));
        assert!(!same_origin("ftp://kith.example", Some("kith.example")));
    }

    #[test]
    fn page_params_are_checked() {
        let p = PageParams {
            limit: Some(0),
            cursor: None,
        };
        assert!(p.resolve().is_err());
        let p = PageParams {
            limit: Some(101),
            cursor: None,
        };
        assert!(p.resolve().is_err());
        let p = PageParams {
            limit: None,
            cursor: Some("!!".into()),
        };
        assert!(p.resolve().is_err());
        let p = PageParams {
            limit: Some(100),
            cursor: Some(Id(42).to_string()),
        };
        let r = p.resolve().map_err(|e| e.to_string());
        assert_eq!(r.map(|r| (r.limit, r.before())).ok(), Some((100, 42)));
    }
}
