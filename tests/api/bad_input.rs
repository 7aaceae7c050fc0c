//! Malformed and hostile requests: every one gets a 4xx with the JSON error
//! body, never a 5xx.

use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Client, assert_error, error_code, raw_http, send, spawn_app, within};

/// POSTs a JSON body of about `size` bytes with chunked transfer encoding
/// over a plain socket; returns the status and the JSON body.
async fn chunked_post(addr: std::net::SocketAddr, path: &str, size: usize) -> (u16, Value) {
    let chunk = |data: &[u8]| {
        let mut c = format!("{:x}\r\n", data.len()).into_bytes();
        c.extend_from_slice(data);
        c.extend_from_slice(b"\r\n");
        c
    };
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    out.extend(chunk(b"{\"username\": \"x\", \"password\": \""));
    let piece = vec![b'y'; 64 * 1024];
    for _ in 0..size / piece.len() {
        out.extend(chunk(&piece));
    }
    out.extend(chunk(b"\"}"));
    out.extend_from_slice(b"0\r\n\r\n");
    let (status, _, body) = raw_http(addr, &out).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

/// Routes that take a JSON body, with a valid body for each.
fn json_routes(post: &str) -> Vec<(String, Value)> {
    vec![
        (
            "/api/auth/signup".into(),
            json!({"username": "newbie", "password": "long enough"}),
        ),
        (
            "/api/auth/login".into(),
            json!({"username": "alice", "password": "password-alice"}),
        ),
        ("/api/posts".into(), json!({"body": "hello"})),
        (format!("/api/posts/{post}/comments"), json!({"body": "hi"})),
        ("/api/friends/requests".into(), json!({"username": "bob"})),
    ]
}

async fn setup() -> (crate::helpers::TestApp, Client, String) {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.user("bob").await;
    let post = alice.new_post("a post", "public").await;
    (app, alice, post)
}

#[tokio::test]
async fn malformed_json_is_400() {
    let (_app, alice, post) = setup().await;
    for (path, valid) in json_routes(&post) {
        let valid = valid.to_string();
        let mut bodies: Vec<String> = [
            "",
            " ",
            "{",
            "[",
            "{,}",
            "{\"",
            "not json",
            "nul",
            "\u{feff}{}",
            "{'username': 'x'}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        bodies.push(valid[..valid.len() - 1].to_string());
        bodies.push(format!("{valid} trailing"));
        bodies.push(format!("{valid}{valid}"));
        bodies.push(format!("{},}}", &valid[..valid.len() - 1]));
        bodies.push(format!("\u{feff}{valid}"));
        bodies.push(valid.replace(':', "="));
        for body in bodies {
            let (status, v) = alice
                .raw(Method::POST, &path, "application/json", body.clone())
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body:?}: {v}");
            assert_error(&v, "bad_request");
        }
        // Bytes that are not UTF-8.
        let (status, v) = alice
            .raw(
                Method::POST,
                &path,
                "application/json",
                b"{\"body\": \"\xff\xfe\"}".to_vec(),
            )
            .await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {status} {v}"
        );
    }
}

#[tokio::test]
async fn json_of_the_wrong_shape_is_422() {
    let (_app, alice, post) = setup().await;
    for (path, valid) in json_routes(&post) {
        let mut with_extra = valid.clone();
        with_extra["is_admin"] = json!(true);
        let mut wrong_types: Vec<Value> = Vec::new();
        for (key, _) in valid.as_object().expect("object") {
            for bad in [json!(1), json!(null), json!([]), json!({}), json!(true)] {
                let mut v = valid.clone();
                v[key] = bad;
                wrong_types.push(v);
            }
            let mut missing = valid.clone();
            missing.as_object_mut().expect("object").remove(key);
            wrong_types.push(missing);
        }
        let shapes = [
            json!([]),
            json!("string"),
            json!(42),
            json!(null),
            json!({}),
        ];
        for body in std::iter::once(with_extra).chain(wrong_types).chain(shapes) {
            let (status, v) = alice.post(&path, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {body}: {v}"
            );
            assert_error(&v, "invalid");
        }
    }
    // The same for a query string of the wrong type is 400.
    let (status, v) = alice.get("/api/feed?limit=ten").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&v, "bad_request");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let (_app, alice, post) = setup().await;
    for (path, valid) in json_routes(&post) {
        let bytes = valid.to_string();
        // No content type at all.
        let (status, _, v) = send(alice.req(Method::POST, &path).body(bytes.clone())).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{path}: {v}");
        assert_error(&v, "unsupported_media_type");
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "json",
        ] {
            let (status, v) = alice.raw(Method::POST, &path, ct, bytes.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{path} {ct}: {v}"
            );
            assert_error(&v, "unsupported_media_type");
        }
    }
    // JSON with parameters or a +json subtype is JSON.
    let (status, v) = alice
        .raw(
            Method::POST,
            "/api/posts",
            "application/json; charset=utf-8",
            json!({"body": "charset"}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_413() {
    let (app, alice, _post) = setup().await;
    let big = format!("{{\"body\": \"{}\"}}", "x".repeat(1024 * 1024 + 16));
    let (status, v) = alice
        .raw(Method::POST, "/api/posts", "application/json", big.clone())
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_error(&v, "payload_too_large");
    let (status, v) = app
        .client()
        .raw(Method::POST, "/api/auth/signup", "application/json", big)
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_error(&v, "payload_too_large");

    // Without a Content-Length (chunked), the limit holds as well.
    let (status, v) = within(chunked_post(app.addr, "/api/auth/signup", 20 * 64 * 1024)).await;
    assert_eq!(status, 413, "{v}");
    assert_error(&v, "payload_too_large");

    // Just under the limit is read (and then judged on its content).
    let under = format!("{{\"body\": \"{}\"}}", "x".repeat(1024 * 1024 - 64));
    let (status, v) = alice
        .raw(Method::POST, "/api/posts", "application/json", under)
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too many characters: {v}"
    );
    // Nothing was stored.
    let (_, me) = alice.get("/api/users/alice").await;
    assert_eq!(me["post_count"], 1);
}

#[tokio::test]
async fn ids_that_name_nothing_are_404() {
    let (_app, alice, post) = setup().await;
    let ids = [
        "zzzz",
        "!!",
        "1zzzzzzzzzzzz",
        "0",
        "7zzzzzzzzzzzz",
        "8zzzzzzzzzzzz",
        "zzzzzzzzzzzzzzzzzzzzz",
        "ABC",
        "-1",
        "%00",
        "%FF",
        "a%20b",
        "i",
        "u",
    ];
    for id in ids {
        for (method, path) in [
            (Method::GET, format!("/api/posts/{id}")),
            (Method::DELETE, format!("/api/posts/{id}")),
            (Method::PUT, format!("/api/posts/{id}/like")),
            (Method::DELETE, format!("/api/posts/{id}/like")),
            (Method::GET, format!("/api/posts/{id}/comments")),
            (Method::DELETE, format!("/api/comments/{id}")),
            (Method::POST, format!("/api/friends/requests/{id}/accept")),
            (Method::POST, format!("/api/friends/requests/{id}/decline")),
            (Method::DELETE, format!("/api/friends/requests/{id}")),
        ] {
            let (status, v) = alice.request(method.clone(), &path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {v}");
            assert_error(&v, "not_found");
        }
        let (status, v) = alice
            .post(&format!("/api/posts/{id}/comments"), json!({"body": "x"}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {v}");
        assert_error(&v, "not_found");
    }
    for name in ["nobody", "%00", "%FF", "a%2Fb", "x".repeat(500).as_str()] {
        for (method, path) in [
            (Method::GET, format!("/api/users/{name}")),
            (Method::GET, format!("/api/users/{name}/posts")),
            (Method::GET, format!("/api/friends/{name}")),
            (Method::DELETE, format!("/api/friends/{name}")),
        ] {
            let (status, v) = alice.request(method.clone(), &path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {v}");
            assert_error(&v, "not_found");
        }
    }
    // The real post is still fine.
    let (status, _) = alice.get(&format!("/api/posts/{post}")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_api_routes_are_404_json_and_wrong_methods_405_json() {
    let (_app, alice, post) = setup().await;
    for path in [
        "/api",
        "/api/",
        "/api/nope",
        "/api/posts/x/y/z",
        "/api/users",
        "/api/auth",
        "/api/openapi.yaml",
        "/api/feed/extra",
    ] {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let (status, headers, v) = send(alice.req(method.clone(), path)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {v}");
            assert_error(&v, "not_found");
            assert_eq!(
                headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
                Some("application/json"),
                "{path}"
            );
        }
    }
    let wrong = [
        (Method::GET, "/api/auth/signup".to_string()),
        (Method::PUT, "/api/auth/login".to_string()),
        (Method::GET, "/api/auth/logout".to_string()),
        (Method::PUT, "/api/me".to_string()),
        (Method::POST, "/api/me/export".to_string()),
        (Method::POST, "/api/users/bob/block".to_string()),
        (Method::POST, "/api/feed".to_string()),
        (Method::PUT, format!("/api/posts/{post}")),
        (Method::POST, format!("/api/posts/{post}/like")),
        (Method::GET, format!("/api/posts/{post}/like")),
        (Method::PUT, "/api/posts".to_string()),
        (Method::GET, "/api/comments/abc".to_string()),
        (Method::POST, "/api/friends".to_string()),
        (Method::GET, "/api/friends/requests/abc/accept".to_string()),
        (Method::POST, "/healthz".to_string()),
        (Method::DELETE, "/api/search".to_string()),
        (Method::OPTIONS, "/api/posts".to_string()),
    ];
    for (method, path) in wrong {
        let (status, _, v) = send(alice.req(method.clone(), &path)).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {v}"
        );
        assert_error(&v, "method_not_allowed");
    }
}

#[tokio::test]
async fn odd_inputs_to_every_route_never_cause_a_5xx() {
    let (app, alice, post) = setup().await;
    let anon = app.client();
    let (_, doc) = alice.get("/api/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{}", paths.len());

    let long = "x".repeat(3000);
    let path_values: Vec<&str> = vec![
        post.as_str(),
        "alice",
        "zzzz",
        "0",
        "7zzzzzzzzzzzz",
        "8zzzzzzzzzzzz",
        "%00",
        "%FF%FE",
        "%C3%A9",
        "..",
        "%2e%2e",
        "a%2Fb",
        "%20",
        "'%20OR%201=1--",
        "%3Cscript%3E",
        "%F0%9F%99%82",
        &long,
    ];
    let bodies: Vec<Option<Value>> = vec![
        None,
        Some(json!({})),
        Some(json!(null)),
        Some(json!([])),
        Some(json!("")),
        Some(json!({"body": "\u{0}"})),
        Some(json!({"body": "x", "visibility": "friends"})),
        Some(json!({"body": long})),
        Some(json!({"body": 1e308})),
        Some(json!({"username": "\u{0}", "password": "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}"})),
        Some(json!({"username": "alice", "password": "\u{0}"})),
        Some(json!({"username": "bob"})),
        Some(json!({"username": "ALICE"})),
        Some(json!({"username": long})),
        Some(json!({"body": {"nested": [[[[[[[[[[]]]]]]]]]]}})),
        Some(json!({"a": -9223372036854775808_i64, "b": 18446744073709551615_u64})),
    ];
    let queries = [
        "",
        "?limit=0",
        "?limit=1",
        "?limit=-1",
        "?limit=18446744073709551616",
        "?cursor=%00",
        "?cursor=7zzzzzzzzzzzz",
        "?cursor=zzzzzzzzzzzzzzzzz",
        "?q=%00",
        "?q=a%00b",
        "?q=%22",
        "?q=NEAR(a%20b)",
        "?q=*",
        "?direction=%00",
        "?direction=outgoing",
        "?limit=1&limit=2",
        "?%FF=%FF",
        "?q",
        "?&&&=&",
    ];

    let mut checked = 0;
    for (template, item) in paths {
        let methods: Vec<Method> = item
            .as_object()
            .expect("path item")
            .keys()
            .filter_map(|m| m.to_ascii_uppercase().parse().ok())
            .collect();
        assert!(!methods.is_empty(), "{template}");
        let concrete: Vec<String> = if template.contains('{') {
            path_values
                .iter()
                .map(|v| template.replace("{id}", v).replace("{username}", v))
                .collect()
        } else {
            vec![template.to_string()]
        };
        for method in methods {
            // Signing out would end the session the other requests use.
            let signed_in = !template.starts_with("/api/auth/logout");
            for (i, path) in concrete.iter().enumerate() {
                // Every query and body with a real post id, a real
                // username and a well-formed id; the odd path values with
                // a couple of requests each.
                let full = i < 3;
                let queries: &[&str] = match (full, method == Method::GET) {
                    (true, true) => &queries,
                    _ => &queries[..1],
                };
                let bodies: &[Option<Value>] = match (full, method == Method::GET) {
                    (true, false) => &bodies,
                    _ => &bodies[..2],
                };
                for q in queries {
                    let url = format!("{path}{q}");
                    if signed_in {
                        let (status, v) = alice.request(method.clone(), &url, None).await;
                        check(status, &v, &method, &url);
                        checked += 1;
                    }
                }
                for body in bodies {
                    if signed_in {
                        let (status, v) = alice.request(method.clone(), path, body.clone()).await;
                        check(status, &v, &method, path);
                        checked += 1;
                    }
                    // Signed out: most routes stop at 401; the auth routes
                    // read the body.
                    let (status, v) = anon.request(method.clone(), path, body.clone()).await;
                    check(status, &v, &method, path);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");

    // Odd headers.
    for (name, value) in [
        (COOKIE, "kith=%00"),
        (COOKIE, "kith=AAAAAAAAAAAAAAAAAAAAAA"),
        (COOKIE, "kith=a; kith=b"),
        (COOKIE, "kith"),
        (CONTENT_TYPE, "application/json; charset=latin1"),
        (CONTENT_TYPE, "*/*"),
    ] {
        for path in ["/api/me", "/api/feed", "/api/posts"] {
            let (status, _, v) = send(
                app.client()
                    .req(Method::POST, path)
                    .header(name.clone(), value)
                    .body("{}"),
            )
            .await;
            check(status, &v, &Method::POST, path);
        }
    }

    // The server is still healthy and Alice still signed in.
    let (status, v) = alice.get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _) = alice.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "still signed in");
}

fn check(status: StatusCode, v: &Value, method: &Method, url: &str) {
    let shown: String = url.chars().take(120).collect();
    assert!(status.as_u16() < 500, "{method} {shown}: {status} {v}");
    // A HEAD answer has no body (RFC 9110): its status says it all.
    if status.is_client_error() && *method != Method::HEAD {
        let code = error_code(v);
        assert!(!code.is_empty(), "{method} {shown}: {v}");
    }
}

#[tokio::test]
async fn error_bodies_have_one_shape() {
    let (app, alice, post) = setup().await;
    let anon = app.client();
    let cases: Vec<(StatusCode, Value)> = vec![
        anon.get("/api/me").await,
        alice.get("/api/posts/zzzz").await,
        alice.post("/api/posts", json!({"body": ""})).await,
        alice
            .raw(Method::POST, "/api/posts", "application/json", "{")
            .await,
        alice
            .raw(Method::POST, "/api/posts", "text/plain", "hi")
            .await,
        alice
            .post("/api/friends/requests", json!({"username": "alice"}))
            .await,
        anon.post("/api/auth/login", json!({"username": "x", "password": "y"}))
            .await,
        alice
            .request(Method::PATCH, &format!("/api/posts/{post}"), None)
            .await,
        alice.get("/api/nope").await,
        alice.get("/api/feed?limit=0").await,
        app.user("carol")
            .await
            .delete(&format!("/api/posts/{post}"))
            .await,
    ];
    for (status, v) in cases {
        assert!(status.is_client_error(), "{status}");
        let obj = v.as_object().unwrap_or_else(|| panic!("{status}: {v}"));
        assert_eq!(obj.len(), 1, "only `error`: {v}");
        let err = v["error"].as_object().expect("error object");
        assert_eq!(err.len(), 2, "only code and message: {v}");
        let code = error_code(&v);
        assert!(
            code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{code}"
        );
        assert!(!v["error"]["message"].as_str().unwrap_or("").is_empty());
    }
}
