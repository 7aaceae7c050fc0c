//! The abuse limits with their production settings: sign-in and sign-up
//! limits per address and per account, the per-user limits on writes and
//! realtime sends, and the header timeout against slow-loris.
//!
//! Client addresses are real: a client binds 127.0.0.N before connecting
//! (all of 127.0.0.0/8 is loopback on Linux).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{
    Client, TIMEOUT, TestApp, assert_error, password_of, send, signup_with_cookie, spawn_app,
    spawn_limited, spawn_with, within,
};
use crate::ws::Ws;

/// A browser at 127.0.0.`n`.
fn from(app: &TestApp, n: u8) -> Client {
    Client {
        base: format!("http://{}", app.addr),
        http: reqwest::Client::builder()
            .cookie_store(true)
            .timeout(TIMEOUT)
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
            .build()
            .expect("client"),
    }
}

async fn login(c: &Client, user: &str, password: &str) -> (StatusCode, HeaderMap, Value) {
    send(
        c.req(Method::POST, "/api/auth/login")
            .json(&json!({"username": user, "password": password})),
    )
    .await
}

async fn signup(c: &Client, user: &str) -> (StatusCode, HeaderMap, Value) {
    send(
        c.req(Method::POST, "/api/auth/signup")
            .json(&json!({"username": user, "password": password_of(user)})),
    )
    .await
}

/// Asserts a 429 in the usual error shape; returns its `Retry-After`.
fn limited(status: StatusCode, headers: &HeaderMap, body: &Value) -> u64 {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_error(body, "rate_limited");
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in seconds: {headers:?}"))
}

#[tokio::test]
async fn guessing_a_password_is_stopped_at_the_guessers_address_only() {
    let app = spawn_limited().await;
    let (status, _, body) = signup(&from(&app, 3), "alice").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let guesser = from(&app, 2);
    for i in 0..10 {
        let (status, _, body) = login(&guesser, "alice", &format!("guess {i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}: {body}");
        assert_error(&body, "bad_credentials");
    }
    let (status, headers, body) = login(&guesser, "alice", "guess 10").await;
    let wait = limited(status, &headers, &body);
    assert!((1..=15 * 60).contains(&wait), "Retry-After {wait}");
    // While limited, the right password is refused there too, whatever
    // the name's case, and a forged X-Forwarded-For changes nothing (no
    // proxy is trusted by default).
    for name in ["alice", "ALICE"] {
        let (status, headers, body) = login(&guesser, name, &password_of("alice")).await;
        limited(status, &headers, &body);
    }
    let (status, headers, body) = send(
        guesser
            .req(Method::POST, "/api/auth/login")
            .header("x-forwarded-for", "198.51.100.77")
            .json(&json!({"username": "alice", "password": password_of("alice")})),
    )
    .await;
    limited(status, &headers, &body);
    // Refused attempts were not counted (nor verified): ten rows only.
    let rows = app
        .db_count("SELECT COUNT(*) FROM auth_attempts WHERE key = 'fail:alice@127.0.0.2'")
        .await;
    assert_eq!(rows, 10);

    // The owner, from an address never used before, signs in as usual.
    let owner = from(&app, 4);
    let (status, _, body) = login(&owner, "alice", &password_of("alice")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, me) = owner.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    // That does not free the guesser's address.
    let (status, headers, body) = login(&guesser, "alice", &password_of("alice")).await;
    limited(status, &headers, &body);
    // Other accounts are still open to that address (its own limit is 30
    // attempts per 5 minutes).
    let (status, _, body) = signup(&from(&app, 5), "bob").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, body) = login(&guesser, "bob", &password_of("bob")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn guessing_from_many_addresses_does_not_lock_the_owner_out_of_home() {
    let app = spawn_limited().await;
    let home = from(&app, 3);
    let (status, _, body) = signup(&home, "alice").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Ten addresses, ten wrong guesses each: 100 failures, the most one
    // account takes in an hour.
    let guessers = (10..20).map(|n| {
        let c = from(&app, n);
        async move {
            for i in 0..10 {
                let (status, _, body) = login(&c, "alice", &format!("guess {i}")).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            }
        }
    });
    within(join_all(guessers)).await;

    // Now a new address is refused even with the right password…
    let (status, headers, body) = login(&from(&app, 30), "alice", &password_of("alice")).await;
    let wait = limited(status, &headers, &body);
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
    // …but the address the owner signed up from still gets in.
    let (status, _, body) = login(&home, "alice", &password_of("alice")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn signups_are_limited_per_address() {
    let app = spawn_limited().await;
    for i in 0..10 {
        let (status, _, body) = signup(&from(&app, 2), &format!("new{i}")).await;
        assert_eq!(status, StatusCode::CREATED, "{i}: {body}");
    }
    let (status, headers, body) = signup(&from(&app, 2), "new10").await;
    let wait = limited(status, &headers, &body);
    assert!((1..=3600).contains(&wait), "Retry-After {wait}");
    // Invalid input is still told apart (it costs nothing, so it is not
    // limited), and nothing was created by the refused signup.
    let (status, body) = from(&app, 2)
        .post(
            "/api/auth/signup",
            json!({"username": "x", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let made = app
        .db_count("SELECT COUNT(*) FROM users WHERE username = 'new10'")
        .await;
    assert_eq!(made, 0);
    // Another address signs up as usual.
    let (status, _, body) = signup(&from(&app, 3), "new10").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_trusted_proxy_header_names_the_client() {
    let app = spawn_with(|c| {
        c.limits = kith::limits::Limits {
            trust_proxy: kith::limits::TrustProxy::XForwardedFor,
            ..kith::limits::Limits::default()
        }
    })
    .await;
    let (status, _, body) = signup(&app.client(), "alice").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let via_proxy = |client: &str| {
        app.client()
            .req(Method::POST, "/api/auth/login")
            .header("x-forwarded-for", format!("10.9.9.9, {client}"))
    };
    for _ in 0..10 {
        let (status, _, body) = send(
            via_proxy("198.51.100.1").json(&json!({"username": "alice", "password": "wrong"})),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let right = json!({"username": "alice", "password": password_of("alice")});
    let (status, headers, body) = send(via_proxy("198.51.100.1").json(&right)).await;
    limited(status, &headers, &body);
    // Every client reached kith from the proxy's address, yet another
    // client is not limited.
    let (status, _, body) = send(via_proxy("198.51.100.2").json(&right)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_burst_of_writes_over_the_users_bucket_is_refused_for_a_moment() {
    let app = spawn_limited().await;
    let alice = from(&app, 2);
    let (status, _, body) = signup(&alice, "alice").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bob = from(&app, 3);
    let (status, _, body) = signup(&bob, "bob").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let post = alice.new_post("like me", "public").await;
    let like = format!("/api/posts/{post}/like");

    // 100 likes at once: the bucket holds 60.
    let answers = within(join_all(
        (0..100).map(|_| send(alice.req(Method::PUT, &like))),
    ))
    .await;
    let ok = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(ok + refused.len(), 100, "only 200s and 429s");
    assert!(ok >= 59, "{ok} got through");
    assert!(!refused.is_empty(), "nothing was refused");
    let wait = refused
        .iter()
        .map(|(status, headers, body)| limited(*status, headers, body))
        .max()
        .unwrap_or(1);
    assert_eq!(wait, 1, "one token comes back in 0.1 s");

    // Reads are not limited, nor are other users' writes.
    let (status, body) = alice.get(&format!("/api/posts/{post}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = send(bob.req(Method::PUT, &like)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // After Retry-After, writes go through again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, _, body) = send(alice.req(Method::DELETE, &like)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn ws(app: &TestApp, cookie: &str) -> Ws {
    let origin = format!("http://{}", app.addr);
    let (ws, status) = Ws::connect(app.addr, Some(cookie), Some(&origin))
        .await
        .expect("WebSocket handshake");
    assert_eq!(status, 101);
    ws
}

/// Sends `n` messages at once on `ws`; returns how many were acked and how
/// many refused as over the rate limit.
async fn send_burst(ws: &mut Ws, conv: &str, tag: &str, n: usize) -> (usize, usize) {
    for i in 0..n {
        let frame = json!({"type": "send", "conversation_id": conv,
            "client_msg_id": format!("{tag}{i}"), "body": "hi"});
        ws.send(frame).await;
    }
    let (mut acks, mut refused) = (0, 0);
    while acks + refused < n {
        let v = ws.next().await;
        match v["type"].as_str() {
            Some("ack") => acks += 1,
            Some("error") => {
                assert_eq!(v["code"], "rate_limited", "{v}");
                refused += 1;
            }
            _ => {}
        }
    }
    (acks, refused)
}

#[tokio::test]
async fn realtime_sends_share_one_budget_across_a_users_connections() {
    let app = spawn_limited().await;
    let (alice, cookie) = signup_with_cookie(&app, "alice").await;
    let bob = app.user("bob").await;
    alice.befriend(&bob, "bob").await;
    let (status, v) = alice
        .post("/api/conversations", json!({"members": ["bob"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let conv = v["id"].as_str().expect("id").to_string();

    let mut first = ws(&app, &cookie).await;
    let mut second = ws(&app, &cookie).await;
    let (acks, refused) = send_burst(&mut first, &conv, "a", 30).await;
    assert_eq!((acks, refused), (30, 0), "the burst fits");
    // A connection alone would take 30 more; the user has spent theirs.
    let (_, refused) = send_burst(&mut second, &conv, "b", 20).await;
    assert!(refused > 0, "a second connection bought more sends");
}

/// Reads until the server closes the connection; returns when it did.
async fn closed(mut s: impl AsyncRead + Unpin) -> Instant {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return Instant::now(),
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn a_request_head_that_never_completes_is_cut_off() {
    let app = spawn_app().await;
    let limit = kith::http::serve::HEADER_TIMEOUT;
    let start = Instant::now();

    // One that trickles a head in, a byte every 200 ms, never ending it.
    let (trickle_read, mut trickle_write) = TcpStream::connect(app.addr)
        .await
        .expect("connect")
        .into_split();
    let trickler = tokio::spawn(async move {
        let head = b"GET /healthz HTTP/1.1\r\nHost: kith\r\nX-Slow: ";
        for b in head.iter().chain(std::iter::repeat(&b'a')) {
            if trickle_write.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    // One that connects and says nothing.
    let silent = TcpStream::connect(app.addr).await.expect("connect");
    let trickle_closed = tokio::spawn(closed(trickle_read));
    let silent_closed = tokio::spawn(closed(silent));

    // Meanwhile requests are served, also one whose head comes in pieces
    // within the limit.
    let (status, _) = app.client().get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let mut s = TcpStream::connect(app.addr).await.expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: kith\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_secs(1)).await;
    s.write_all(b"Connection: close\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    within(s.read_to_end(&mut answer)).await.expect("read");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    for (what, task) in [("trickling", trickle_closed), ("silent", silent_closed)] {
        let at = within(task).await.expect("reader") - start;
        assert!(
            at >= limit - Duration::from_secs(1) && at <= limit + Duration::from_secs(5),
            "the {what} connection was closed after {at:?} (limit {limit:?})"
        );
    }
    trickler.abort();
    // The server still serves.
    let (status, _) = app.client().get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
}
