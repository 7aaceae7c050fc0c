//! OWASP ASVS session management (V3) checks that the other auth tests do
//! not already make: the strength of session ids, and logout-all reaching
//! open sockets. Rotation on login, replay after logout and the cookie's
//! attributes are checked in `auth.rs`.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt;
use futures_util::stream;
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{cookie_value, password_of, send, set_cookie, spawn_app};
use crate::helpers::{person, ws_request};
use crate::ws::Ws;

/// How many sessions the id checks look at.
const SAMPLE: usize = 200;

/// ASVS 3.2.2: session ids carry at least 128 bits of entropy. The store
/// draws a random `i128` from a CSPRNG (`rand`'s thread RNG, ChaCha
/// seeded by the OS) and the cookie is its base64url encoding; this test
/// checks what it can from outside: every id distinct, 16 bytes of
/// base64url, every character position and every bit varying.
#[tokio::test]
async fn session_ids_are_distinct_and_carry_128_random_bits() {
    let app = spawn_app().await;
    let _ = app.user("alice").await;
    let c = app.bare_client();
    let login = || async {
        let (status, headers, body) = send(
            c.req(Method::POST, "/api/auth/login")
                .json(&json!({"username": "alice", "password": password_of("alice")})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        cookie_value(set_cookie(&headers, "kith").expect("session cookie")).to_string()
    };
    // A few at a time: each login costs an argon2 verification.
    let ids: Vec<String> = stream::iter(0..SAMPLE)
        .map(|_| login())
        .buffer_unordered(4)
        .collect()
        .await;

    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), SAMPLE, "a session id was issued twice");

    let mut ones = [0usize; 128];
    for id in &ids {
        assert_eq!(id.len(), 22, "{id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "not base64url: {id}"
        );
        let bytes = URL_SAFE_NO_PAD.decode(id).expect("base64url");
        assert_eq!(bytes.len(), 16, "{id} is not 128 bits");
        for (bit, n) in ones.iter_mut().enumerate() {
            *n += usize::from(bytes[bit / 8] >> (bit % 8) & 1 == 1);
        }
    }
    // No character position is constant (a counter or a timestamp would
    // leave some alike).
    for pos in 0..22 {
        let seen: HashSet<u8> = ids.iter().map(|id| id.as_bytes()[pos]).collect();
        assert!(seen.len() > 1, "position {pos} never varies");
    }
    // Every bit is set in about half the ids: with 200 fair coins, outside
    // 25–75 % is more than 7 standard deviations away.
    for (bit, n) in ones.iter().enumerate() {
        assert!(
            (SAMPLE / 4..=SAMPLE * 3 / 4).contains(n),
            "bit {bit} set in {n} of {SAMPLE} ids"
        );
    }
}

/// ASVS 3.3.1/3.3.4: logout-all ends the user's sessions on every device,
/// open sockets included; other users' sockets stay open.
#[tokio::test]
async fn logout_all_closes_the_users_open_sockets() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let phone = person_login(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let mut laptop_ws = Ws::open(&app, &alice).await;
    let mut phone_ws = Ws::open(&app, &phone).await;
    let mut bob_ws = Ws::open(&app, &bob).await;

    let (status, body) = phone.http.post_empty("/api/auth/logout-all").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    for ws in [&mut laptop_ws, &mut phone_ws] {
        let (code, reason) = ws.closed().await;
        assert_eq!(code, 4000, "{reason}");
        assert_eq!(reason, "signed out");
    }
    for cookie in [&alice.cookie, &phone.cookie] {
        let (status, _, _) = send(
            app.bare_client()
                .req(Method::GET, "/api/me")
                .header(COOKIE, cookie),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Nor can the old cookie open a new socket.
        let origin = format!("http://{}", app.addr);
        let refused = ws_request(&app, Some(cookie), Some(&origin)).await;
        assert!(
            !matches!(refused, Ok((_, 101))),
            "a socket opened with an ended session"
        );
    }

    // Bob's socket is still open and answering.
    bob_ws.send(json!({"type": "dance"})).await;
    let e = bob_ws.next_of("error").await;
    assert_eq!(e["code"], "bad_frame", "{e}");
}

/// A second device of an existing user: a `Person` signed in by login.
async fn person_login(app: &crate::helpers::TestApp, name: &str) -> crate::helpers::Person {
    let c = app.bare_client();
    let (status, headers, body) = send(
        c.req(Method::POST, "/api/auth/login")
            .json(&json!({"username": name, "password": password_of(name)})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cookie = crate::session::session_cookie(&headers).expect("session cookie");
    let http = reqwest::Client::builder()
        .default_headers(
            [(COOKIE, cookie.parse().expect("header value"))]
                .into_iter()
                .collect(),
        )
        .timeout(crate::helpers::TIMEOUT)
        .build()
        .expect("client");
    crate::helpers::Person {
        name: name.into(),
        http: crate::helpers::Client {
            base: format!("http://{}", app.addr),
            http,
        },
        cookie,
    }
}
