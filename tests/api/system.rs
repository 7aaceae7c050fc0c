//! Health, the OpenAPI document, the embedded web client, security
//! headers, the cross-origin check, and panic catching.

use std::collections::BTreeSet;

use axum::Router;
use axum::routing::get;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, HOST, IF_NONE_MATCH, ORIGIN,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Layered, assert_error, raw_http, send, spawn_app, spawn_with, within};

fn header(h: &reqwest::header::HeaderMap, name: impl reqwest::header::AsHeaderName) -> &str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test]
async fn healthz_reports_ok() {
    let app = spawn_app().await;
    let (status, headers, v) = send(app.client().req(Method::GET, "/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["role"], "primary");
    assert_eq!(header(&headers, CONTENT_TYPE), "application/json");
}

/// Every route of the API: (path, methods).
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/auth/signup", &["post"]),
    ("/api/auth/login", &["post"]),
    ("/api/auth/logout", &["post"]),
    ("/api/auth/logout-all", &["post"]),
    ("/api/me", &["delete", "get", "patch"]),
    ("/api/me/export", &["get"]),
    ("/api/users/{username}", &["get"]),
    ("/api/users/{username}/block", &["delete", "put"]),
    ("/api/blocks", &["get"]),
    ("/api/users/{username}/posts", &["get"]),
    ("/api/friends/requests", &["get", "post"]),
    ("/api/friends/requests/{id}", &["delete"]),
    ("/api/friends/requests/{id}/accept", &["post"]),
    ("/api/friends/requests/{id}/decline", &["post"]),
    ("/api/friends", &["get"]),
    ("/api/friends/{username}", &["delete", "get"]),
    ("/api/posts", &["post"]),
    ("/api/posts/{id}", &["delete", "get", "patch"]),
    ("/api/posts/{id}/like", &["delete", "put"]),
    ("/api/posts/{id}/link-image", &["get"]),
    ("/api/posts/{id}/comments", &["get", "post"]),
    ("/api/comments/{id}", &["delete", "patch"]),
    ("/api/feed", &["get"]),
    ("/api/search", &["get"]),
    ("/api/conversations", &["get", "post"]),
    ("/api/conversations/{id}/messages", &["get"]),
    ("/api/notifications", &["get"]),
    ("/api/notifications/read", &["post"]),
    ("/api/notifications/preferences", &["get", "put"]),
    ("/api/push/key", &["get"]),
    ("/api/push/subscriptions", &["delete", "get", "post"]),
    ("/api/realtime/ticket", &["post"]),
    ("/api/realtime/config", &["get"]),
    ("/api/jobs/{id}", &["get"]),
    ("/api/media", &["post"]),
    ("/api/media/{id}", &["get"]),
    ("/api/uploads", &["options", "post"]),
    ("/api/uploads/{id}", &["delete", "head", "patch"]),
    ("/api/me/avatar", &["delete", "put"]),
    ("/api/users/{id}/avatar.svg", &["get"]),
    ("/api/admin/overview", &["get"]),
    ("/api/admin/cluster", &["get"]),
    ("/api/admin/users", &["get"]),
    ("/api/admin/users/{id}", &["patch"]),
    ("/api/admin/users/{id}/approve", &["post"]),
    ("/api/admin/users/{id}/reject", &["post"]),
    ("/api/admin/users/{id}/reset-link", &["post"]),
    ("/api/admin/reports", &["get"]),
    ("/api/admin/reports/{id}/resolve", &["post"]),
    ("/api/admin/jobs", &["get"]),
    ("/api/admin/jobs/{id}/cancel", &["post"]),
    ("/api/admin/jobs/{id}/retry", &["post"]),
    ("/api/admin/audit", &["get"]),
    ("/api/auth/config", &["get"]),
    ("/api/auth/token", &["post"]),
    ("/api/auth/password-reset", &["post"]),
    ("/api/auth/password-reset/confirm", &["post"]),
    ("/api/me/password", &["post"]),
    ("/api/me/sessions", &["get"]),
    ("/api/me/sessions/{id}", &["delete"]),
    ("/api/me/email", &["delete", "put"]),
    ("/api/me/email/verify", &["post"]),
    ("/api/me/reports", &["get"]),
    ("/api/mutes", &["get"]),
    ("/api/users/{username}/mute", &["delete", "put"]),
    ("/api/reports", &["post"]),
    ("/api/invites", &["get", "post"]),
    ("/api/invites/{code}", &["delete"]),
    ("/api/conversations/{id}", &["get", "patch"]),
    ("/api/conversations/{id}/members", &["post"]),
    ("/api/conversations/{id}/members/{username}", &["delete"]),
    ("/api/conversations/{id}/members/{username}/role", &["put"]),
    ("/api/conversations/{id}/mute", &["put"]),
    ("/api/posts/{id}/history", &["get"]),
    ("/api/comments/{id}/history", &["get"]),
    ("/api/tags/trending", &["get"]),
    ("/api/tags/{tag}", &["get"]),
    ("/healthz", &["get"]),
];

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = spawn_app().await;
    let (status, doc) = app.client().get("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "kith");
    let paths = doc["paths"].as_object().expect("paths");
    let listed: BTreeSet<&str> = paths.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = ROUTES.iter().map(|(p, _)| *p).collect();
    assert_eq!(listed, expected);
    for (path, methods) in ROUTES {
        let mut have: Vec<&str> = paths[*path]
            .as_object()
            .expect("path item")
            .keys()
            .map(String::as_str)
            .filter(|k| ["get", "post", "put", "delete", "patch", "head", "options"].contains(k))
            .collect();
        have.sort_unstable();
        assert_eq!(have, *methods, "{path}");
    }
    // Each route is really served: no listed operation is a 404 or 405
    // without a session (they are 401 or answer).
    let c = app.client();
    for (path, methods) in ROUTES {
        let concrete = path.replace("{id}", "0").replace("{username}", "nobody");
        for m in *methods {
            let method: Method = m.to_ascii_uppercase().parse().expect("method");
            let (status, _, v) = send(c.req(method.clone(), &concrete).json(&json!({}))).await;
            assert!(
                status != StatusCode::METHOD_NOT_ALLOWED
                    && (status != StatusCode::NOT_FOUND || concrete.contains("nobody")),
                "{method} {concrete}: {status} {v}"
            );
        }
    }
    // Schemas referenced by the API are included.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for s in ["ErrorBody", "PostView", "UserView", "Profile"] {
        assert!(schemas.contains_key(s), "{s}");
    }
}

#[tokio::test]
async fn the_web_client_is_served_with_caching_headers() {
    let app = spawn_app().await;
    let c = app.client();
    let (status, headers, body) = send(c.req(Method::GET, "/")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, CONTENT_TYPE).starts_with("text/html"));
    assert!(
        body.as_str()
            .is_some_and(|b| b.contains("<html") || b.contains("<!")),
        "{body}"
    );
    let etag = header(&headers, ETAG).to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    assert_eq!(header(&headers, CACHE_CONTROL), "no-cache");
    let csp = header(&headers, CONTENT_SECURITY_POLICY);
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    // Revalidation.
    let res = c
        .req(Method::GET, "/")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(res.headers(), ETAG), etag);
    assert!(res.bytes().await.expect("body").is_empty());
    let (status, _, _) = send(
        c.req(Method::GET, "/")
            .header(IF_NONE_MATCH, format!("\"nope\", {etag}")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, _) = send(c.req(Method::GET, "/").header(IF_NONE_MATCH, "\"stale\"")).await;
    assert_eq!(status, StatusCode::OK);

    // Other files: their own type. index.html names them with their
    // version, and a request for that version may be cached for good;
    // any other request revalidates.
    let html = body.as_str().expect("html");
    let at = html
        .find("/style.css?v=")
        .expect("a versioned stylesheet link");
    let versioned: String = html[at..].chars().take_while(|c| *c != '"').collect();
    let (status, headers, _) = send(c.req(Method::GET, &versioned)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, CONTENT_TYPE).starts_with("text/css"));
    assert_eq!(
        header(&headers, CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let css_etag = header(&headers, ETAG).to_string();
    assert!(!css_etag.is_empty() && css_etag != etag);
    for stale in ["/style.css", "/style.css?v=0000000000000000"] {
        let (status, headers, _) = send(c.req(Method::GET, stale)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&headers, CACHE_CONTROL), "no-cache", "{stale}");
        assert_eq!(header(&headers, ETAG), css_etag, "{stale}");
    }

    // The client's own routes get index.html.
    for path in ["/index.html", "/u/alice", "/settings/profile"] {
        let (status, headers, _) = send(c.req(Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(
            header(&headers, CONTENT_TYPE).starts_with("text/html"),
            "{path}"
        );
        assert_eq!(header(&headers, ETAG), etag, "{path}");
    }
}

#[tokio::test]
async fn the_installable_app_names_its_release_in_the_service_worker() {
    let app = spawn_app().await;
    let c = app.client();
    let (status, headers, body) = send(c.req(Method::GET, "/sw.js")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, CONTENT_TYPE).contains("javascript"));
    assert_eq!(header(&headers, CACHE_CONTROL), "no-cache");
    let js = body.as_str().expect("text");
    assert!(!js.contains("__ASSETS_VERSION__"), "the mark is replaced");
    let at = js.find("const VERSION = '").expect("the version line") + 17;
    let version: String = js[at..].chars().take_while(|c| *c != '\'').collect();
    assert_eq!(version.len(), 16, "{version}");
    assert!(version.chars().all(|c| c.is_ascii_hexdigit()), "{version}");
    // Its ETag is of what is served, so a new release revalidates.
    let res = c
        .req(Method::GET, "/sw.js")
        .header(IF_NONE_MATCH, header(&headers, ETAG))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let (status, headers, manifest) = send(c.req(Method::GET, "/manifest.webmanifest")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, CONTENT_TYPE), "application/manifest+json");
    let m: serde_json::Value = match manifest {
        serde_json::Value::String(s) => serde_json::from_str(&s).expect("JSON"),
        v => v,
    };
    assert_eq!(m["start_url"], "/");
    for icon in m["icons"].as_array().expect("icons") {
        let (status, headers, _) =
            send(c.req(Method::GET, icon["src"].as_str().expect("src"))).await;
        assert_eq!(status, StatusCode::OK, "{icon}");
        assert_eq!(header(&headers, CONTENT_TYPE), "image/png", "{icon}");
    }
}

#[tokio::test]
async fn static_files_never_escape_their_folder() {
    let app = spawn_app().await;
    let (_, _, index) = raw_http(
        app.addr,
        format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            app.addr
        )
        .as_bytes(),
    )
    .await;
    for path in [
        "/../Cargo.toml",
        "/../../../../../../etc/passwd",
        "/assets/../Cargo.toml",
        "/./../Cargo.toml",
        "/%2e%2e/Cargo.toml",
        "/..%2fCargo.toml",
        "/..%5cCargo.toml",
        "/..\\Cargo.toml",
        "//etc/passwd",
        "/%2Fetc%2Fpasswd",
        "/../src/lib.rs",
        "/../schema.sql",
    ] {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            app.addr
        );
        let (status, _, body) = raw_http(app.addr, req.as_bytes()).await;
        assert!(status < 500, "{path}: {status}");
        assert!(
            !body.contains("[package]")
                && !body.contains("root:")
                && !body.contains("CREATE TABLE")
                && !body.contains("pub mod"),
            "{path} leaked a file: {}",
            &body.chars().take(200).collect::<String>()
        );
        if status == 200 {
            assert_eq!(body, index, "{path}: only the web client is served");
        }
    }
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let anon = app.client();
    for (c, method, path) in [
        (&alice, Method::GET, "/api/me"),
        (&anon, Method::GET, "/api/me"),
        (&alice, Method::GET, "/api/nope"),
        (&alice, Method::GET, "/api/openapi.json"),
        (&alice, Method::GET, "/healthz"),
        (&alice, Method::GET, "/"),
        (&alice, Method::GET, "/style.css"),
        (&alice, Method::DELETE, "/api/me"),
        (&alice, Method::POST, "/api/posts"),
    ] {
        let (status, headers, _) = send(c.req(method.clone(), path)).await;
        assert_eq!(
            header(&headers, "x-content-type-options"),
            "nosniff",
            "{method} {path} ({status})"
        );
        assert_eq!(header(&headers, "x-frame-options"), "DENY", "{path}");
        assert_eq!(header(&headers, "referrer-policy"), "same-origin", "{path}");
        assert!(!header(&headers, "x-request-id").is_empty(), "{path}");
        let csp = header(&headers, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("object-src 'none'"), "{path}: {csp}");
        // Plain HTTP: no HSTS (it would pin a name to HTTPS it lacks).
        assert!(headers.get("strict-transport-security").is_none(), "{path}");
    }
    // A request id sent by the client is kept.
    let (_, headers, _) = send(
        alice
            .req(Method::GET, "/healthz")
            .header("x-request-id", "test-id-123"),
    )
    .await;
    assert_eq!(header(&headers, "x-request-id"), "test-id-123");
}

#[tokio::test]
async fn cross_origin_writes_are_refused() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let own = format!("http://{}", app.addr);
    let other_port = format!("http://127.0.0.1:{}", app.addr.port() ^ 1);
    let with_path = format!("{own}/");
    let suffixed = format!("{own}.evil.example");
    for origin in [
        "http://evil.example",
        "null",
        other_port.as_str(),
        "http://127.0.0.1",
        "ftp://127.0.0.1",
        with_path.as_str(),
        suffixed.as_str(),
        "",
    ] {
        let (status, _, v) = send(
            alice
                .req(Method::POST, "/api/posts")
                .header(ORIGIN, origin)
                .json(&json!({"body": "csrf"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "Origin {origin:?}: {v}");
        assert_error(&v, "forbidden");
    }
    // Also for the other unsafe methods, and before signup/login.
    let post = alice.new_post("target", "public").await;
    for (method, path) in [
        (Method::PUT, format!("/api/posts/{post}/like")),
        (Method::DELETE, format!("/api/posts/{post}")),
        (Method::POST, "/api/auth/logout".to_string()),
        (Method::POST, "/api/auth/logout-all".to_string()),
        (Method::POST, "/api/auth/login".to_string()),
        (Method::POST, "/api/auth/signup".to_string()),
    ] {
        let (status, _, v) = send(
            alice
                .req(method.clone(), &path)
                .header(ORIGIN, "http://evil.example")
                .json(&json!({"username": "mallory", "password": "long enough"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {v}");
    }
    // A browser that sends no Origin but says cross-site.
    let (status, _, _) = send(
        alice
            .req(Method::POST, "/api/posts")
            .header("sec-fetch-site", "cross-site")
            .json(&json!({"body": "csrf"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // None of that took effect.
    let (_, me) = alice.get("/api/users/alice").await;
    assert_eq!(me["post_count"], 1);
    let (_, p) = alice.get(&format!("/api/posts/{post}")).await;
    assert_eq!(p["post"]["like_count"], 0);
    let (status, _) = alice.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "still signed in");

    // The server's own origin is fine.
    let (status, _, v) = send(
        alice
            .req(Method::POST, "/api/posts")
            .header(ORIGIN, &own)
            .header("sec-fetch-site", "same-origin")
            .json(&json!({"body": "same origin"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{own}: {v}");
    // Matched against the Host the request was sent to: any case, with
    // the default port written or not.
    for (host, origin) in [
        (
            format!("LocalHost:{}", app.addr.port()),
            format!("http://localhost:{}", app.addr.port()),
        ),
        (
            "kith.example:80".to_string(),
            "http://kith.example".to_string(),
        ),
        (
            "kith.example".to_string(),
            "http://KITH.example:80".to_string(),
        ),
    ] {
        let (status, _, v) = send(
            alice
                .req(Method::POST, "/api/posts")
                .header(HOST, &host)
                .header(ORIGIN, &origin)
                .json(&json!({"body": "same origin"})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "Host {host}, Origin {origin}: {v}"
        );
    }
    // Reads from another origin are allowed.
    let (status, _, v) = send(
        alice
            .req(Method::GET, "/api/feed")
            .header(ORIGIN, "http://evil.example")
            .header("sec-fetch-site", "cross-site"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// Panics in a handler behind kith's layers: a 500 with the JSON body, and
/// the server keeps serving.
#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_lives_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = within(kith::App::build(kith::Config::for_dir(dir.path())))
        .await
        .expect("app builds");
    let state = app.state().clone();
    let routes: Router<kith::AppState> = Router::new()
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("kaboom in a test handler");
                }
                "unreachable"
            }),
        )
        .route("/fine", get(|| async { "fine" }));
    let server = Layered::serve(routes, state).await;

    for _ in 0..3 {
        let res = server
            .http
            .get(server.url("/boom"))
            .send()
            .await
            .expect("a response, not a dropped connection");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(header(res.headers(), "x-content-type-options"), "nosniff");
        let v: serde_json::Value = res.json().await.expect("JSON body");
        assert_error(&v, "internal");
        // The panic message is not leaked to the client.
        assert!(!v.to_string().contains("kaboom"), "{v}");

        let res = server
            .http
            .get(server.url("/fine"))
            .send()
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.expect("body"), "fine");
    }
    drop(server);
    drop(app);
}

#[tokio::test]
async fn hsts_is_sent_when_served_over_https() {
    let app = spawn_with(|c| c.secure_cookies = true).await;
    for path in ["/healthz", "/", "/api/nope"] {
        let (_, headers, _) = send(app.client().req(Method::GET, path)).await;
        assert_eq!(
            header(&headers, "strict-transport-security"),
            "max-age=63072000; includeSubDomains",
            "{path}"
        );
        assert!(
            header(&headers, "content-security-policy").contains("frame-ancestors 'none'"),
            "{path}"
        );
    }
}
