//! Accounts people run themselves: profile edits, a new password, the
//! list of sessions and devices, app tokens (HTTP, WebSocket,
//! WebTransport), mutes, and bad input on each.

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Client, assert_error, password_of, person, spawn_app};
use crate::wait::within_for;
use crate::ws::Ws;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

/// A client that sends `Authorization: Bearer <token>` and keeps no
/// cookies: a native app.
pub(crate) fn app_client(base: &str, token: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    Client {
        base: base.to_owned(),
        http: reqwest::Client::builder()
            .default_headers(headers)
            .timeout(crate::helpers::TIMEOUT)
            .build()
            .expect("client"),
    }
}

pub(crate) async fn token_for(app: &crate::helpers::TestApp, name: &str, device: &str) -> String {
    let (s, v) = app
        .bare_client()
        .post(
            "/api/auth/token",
            json!({"username": name, "password": password_of(name), "name": device}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["token"].as_str().expect("token").to_owned()
}

fn session_ids(v: &Value) -> Vec<(String, String, bool)> {
    v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_owned(),
                s["device"].as_str().expect("device").to_owned(),
                s["current"].as_bool().expect("current"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_profile_edit_shows_on_the_profile_and_bad_values_change_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (s, v) = alice
        .request(
            reqwest::Method::PATCH,
            "/api/me",
            Some(json!({"display_name": "  Alice A. ", "bio": "Climber.\r\nBaker."})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["display_name"], "Alice A.");
    assert_eq!(v["user"]["bio"], "Climber.\nBaker.");
    let (_, profile) = bob.get("/api/users/alice").await;
    assert_eq!(profile["user"]["display_name"], "Alice A.", "{profile}");
    assert_eq!(profile["bio"], "Climber.\nBaker.");
    assert_eq!(profile["muted"], false);

    for bad in [
        json!({"bio": "x".repeat(301)}),
        json!({"display_name": ""}),
        json!({"display_name": "a\u{0}b"}),
        json!({"bio": "ring\u{7}"}),
        json!({"nickname": "x"}),
    ] {
        let (s, v) = alice
            .request(reqwest::Method::PATCH, "/api/me", Some(bad.clone()))
            .await;
        assert!(s.is_client_error(), "{bad} -> {s} {v}");
    }
    let (_, me) = alice.get("/api/me").await;
    assert_eq!(me["user"]["display_name"], "Alice A.");
    assert_eq!(me["user"]["bio"], "Climber.\nBaker.");
    // 300 characters exactly is a bio.
    let (s, _) = alice
        .request(
            reqwest::Method::PATCH,
            "/api/me",
            Some(json!({"bio": "é".repeat(300)})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_new_password_ends_every_other_session_and_closes_their_sockets() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let laptop = person_login(&app, "alice").await;
    let mut laptop_ws = Ws::open(&app, &laptop).await;
    let token = token_for(&app, "alice", "kith for iPhone").await;
    let phone = app_client(&app.url(""), &token);
    assert_eq!(phone.get("/api/me").await.0, StatusCode::OK);

    // Bad input first: nothing changes.
    let (s, v) = alice
        .http
        .post(
            "/api/me/password",
            json!({"current_password": "not-it-at-all", "new_password": "a-fine-new-one"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_error(&v, "wrong_password");
    let (s, v) = alice
        .http
        .post(
            "/api/me/password",
            json!({"current_password": password_of("alice"), "new_password": "short"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(laptop.http.get("/api/me").await.0, StatusCode::OK);

    let (s, v) = alice
        .http
        .post(
            "/api/me/password",
            json!({"current_password": password_of("alice"), "new_password": "a-fine-new-one"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // This browser goes on (under a new id); the others are out.
    assert_eq!(alice.http.get("/api/me").await.0, StatusCode::OK);
    assert_eq!(laptop.http.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(phone.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    let (code, reason) = laptop_ws.closed().await;
    assert_eq!((code, reason.as_str()), (4000, "signed out"));
    // The new password signs in; the old one does not.
    let c = app.client();
    assert_eq!(c.login("alice", "a-fine-new-one").await.0, StatusCode::OK);
    assert_eq!(
        c.login("alice", &password_of("alice")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// A second browser of an existing user, with its cookie.
async fn person_login(app: &crate::helpers::TestApp, name: &str) -> crate::helpers::Person {
    let c = app.bare_client();
    let res = c
        .http
        .post(app.url("/api/auth/login"))
        .header(USER_AGENT, FIREFOX)
        .json(&json!({"username": name, "password": password_of(name)}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = crate::session::session_cookie(res.headers()).expect("cookie");
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie"),
    );
    crate::helpers::Person {
        name: name.into(),
        http: Client {
            base: app.url(""),
            http: reqwest::Client::builder()
                .default_headers(headers)
                .timeout(crate::helpers::TIMEOUT)
                .build()
                .expect("client"),
        },
        cookie,
    }
}

#[tokio::test]
async fn sessions_are_listed_with_their_device_and_one_revoked_closes_its_socket() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let firefox = person_login(&app, "alice").await;
    let token = token_for(&app, "alice", "kith for iPhone").await;
    let mut firefox_ws = Ws::open(&app, &firefox).await;

    let (s, v) = alice.http.get("/api/me/sessions").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let listed = session_ids(&v);
    assert_eq!(listed.len(), 3, "{v}");
    assert_eq!(listed.iter().filter(|s| s.2).count(), 1, "one is this: {v}");
    let devices: Vec<&str> = listed.iter().map(|s| s.1.as_str()).collect();
    assert!(devices.contains(&"Firefox on Linux"), "{v}");
    assert!(devices.contains(&"kith for iPhone"), "{v}");
    for s in v["sessions"].as_array().expect("sessions") {
        assert_eq!(s["address"], "127.0.0.x", "{s}");
        assert!(s["kind"] == "browser" || s["kind"] == "token", "{s}");
        assert!(s["created_at"].is_string() && s["last_seen_at"].is_string());
    }
    // The secret ids never appear: neither the cookie's nor the token.
    let text = v.to_string();
    assert!(!text.contains(&token));
    assert!(!text.contains(firefox.cookie.split('=').nth(1).expect("value")));

    let (_, mine) = firefox.http.get("/api/me/sessions").await;
    let firefox_id = session_ids(&mine)
        .into_iter()
        .find(|s| s.2)
        .expect("current")
        .0;
    let (s, v) = alice
        .http
        .delete(&format!("/api/me/sessions/{firefox_id}"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (code, reason) = firefox_ws.closed().await;
    assert_eq!((code, reason.as_str()), (4000, "signed out"));
    assert_eq!(
        firefox.http.get("/api/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(alice.http.get("/api/me").await.0, StatusCode::OK);
    // Gone, or another account's: the same 404.
    let (s, _) = alice
        .http
        .delete(&format!("/api/me/sessions/{firefox_id}"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let bob = app.user("bob").await;
    let (_, v) = alice.http.get("/api/me/sessions").await;
    let alice_id = session_ids(&v).into_iter().next().expect("one").0;
    assert_eq!(
        bob.delete(&format!("/api/me/sessions/{alice_id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_app_token_works_on_http_websocket_and_webtransport_until_revoked() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let token = token_for(&app, "alice", "kith cli").await;
    let phone = app_client(&app.url(""), &token);

    // HTTP: reads, and writes from no origin at all, or another one (a
    // bearer request carries no cookie a page could ride on).
    let (s, me) = phone.get("/api/me").await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "alice");
    let res = phone
        .http
        .post(app.url("/api/posts"))
        .header("origin", "https://elsewhere.example")
        .json(&json!({"body": "from the app", "visibility": "public"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("set-cookie").is_none());
    // A cookie request from another origin is still refused.
    let res = alice
        .http
        .http
        .post(app.url("/api/posts"))
        .header("origin", "https://elsewhere.example")
        .json(&json!({"body": "forged", "visibility": "public"}))
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // WebSocket with the header.
    let mut req = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
    );
    let (stream, res) = within_for(
        "the WebSocket handshake",
        tokio_tungstenite::connect_async(req),
    )
    .await
    .expect("handshake");
    assert_eq!(res.status().as_u16(), 101);
    let mut ws = Ws(stream);
    assert_eq!(ws.next_of("hello").await["user"], "alice");

    // WebTransport with a ticket the token asked for.
    let (s, t) = phone.post_empty("/api/realtime/ticket").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let ticket = t["ticket"].as_str().expect("ticket").to_owned();
    let (s, cfg) = phone.get("/api/realtime/config").await;
    assert_eq!(s, StatusCode::OK);
    let (url, hashes) = crate::wt::published(&cfg);
    let conn = crate::wt::connect(&url, &ticket, &hashes, None)
        .await
        .expect("WebTransport session");
    let (mut send, mut recv) = within_for("a stream", conn.open_bi())
        .await
        .expect("open")
        .await
        .expect("stream");
    send.write_all(b"{\"type\":\"ping\"}\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 256];
    let n = within_for("the hello", recv.read(&mut buf))
        .await
        .expect("read")
        .expect("bytes");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("hello"));

    // Revoked from the browser's session list: the token stops, and its
    // sockets close on both transports.
    let (_, v) = alice.http.get("/api/me/sessions").await;
    let token_id = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["kind"] == "token")
        .and_then(|s| s["id"].as_str())
        .expect("the token is listed")
        .to_owned();
    let (s, _) = alice
        .http
        .delete(&format!("/api/me/sessions/{token_id}"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (code, reason) = ws.closed().await;
    assert_eq!((code, reason.as_str()), (4000, "signed out"));
    within_for("the WebTransport session's close", conn.closed()).await;
    assert_eq!(phone.get("/api/me").await.0, StatusCode::UNAUTHORIZED);

    // Malformed or unknown tokens: 401, and the socket is refused.
    for bad in [
        "Bearer",
        "Bearer x;y=z",
        "Bearer AAAAAAAAAAAAAAAAAAAAAA",
        "Basic abc",
    ] {
        let res = app
            .bare_client()
            .http
            .get(app.url("/api/me"))
            .header("authorization", bad)
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }
    let (s, v) = app
        .bare_client()
        .post(
            "/api/auth/token",
            json!({"username": "alice", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let _ = ws.0.next().await;
}

#[tokio::test]
async fn a_muted_friend_leaves_the_feed_and_causes_no_notifications_unknowingly() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    alice.befriend(&bob, "bob").await;
    let before = bob.new_post("before the mute", "friends").await;
    let (s, _) = alice.put("/api/users/bob/mute").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Twice is the same.
    assert_eq!(
        alice.put("/api/users/bob/mute").await.0,
        StatusCode::NO_CONTENT
    );
    let (_, feed) = alice.get("/api/feed").await;
    let bodies: Vec<&str> = feed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["body"].as_str())
        .collect();
    assert!(!bodies.contains(&"before the mute"), "{feed}");
    // Bob's posts are still there on his profile, and he can tell nothing.
    let (s, _) = alice.get(&format!("/api/posts/{before}")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, profile) = bob.get("/api/users/alice").await;
    assert_eq!(profile["muted"], false, "{profile}");
    assert_eq!(profile["relationship"], "friends", "{profile}");
    let (_, profile) = alice.get("/api/users/bob").await;
    assert_eq!(profile["muted"], true, "{profile}");
    // Bob likes and comments on Alice's post: no notification for her.
    let post = alice.new_post("mine", "friends").await;
    assert!(
        bob.put(&format!("/api/posts/{post}/like"))
            .await
            .0
            .is_success()
    );
    let (s, _) = bob
        .post(
            &format!("/api/posts/{post}/comments"),
            json!({"body": "hi"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // Carol's like does notify: notifications work, they just skip Bob.
    let carol = app.user("carol").await;
    alice.befriend(&carol, "carol").await;
    assert!(
        carol
            .put(&format!("/api/posts/{post}/like"))
            .await
            .0
            .is_success()
    );
    let notes =
        crate::wait::eventually("carol's like notifies", crate::helpers::TIMEOUT, || async {
            let (_, n) = alice.get("/api/notifications").await;
            let items = n["items"].as_array().cloned().unwrap_or_default();
            items
                .iter()
                .any(|i| i["kind"] == "like" && i["actor"]["username"] == "carol")
                .then_some(items)
        })
        .await;
    assert!(
        notes
            .iter()
            .all(|i| i["actor"]["username"] != "bob" || i["kind"] == "friend_accepted"),
        "{notes:?}"
    );
    let (_, list) = alice.get("/api/mutes").await;
    assert_eq!(list["items"][0]["user"]["username"], "bob", "{list}");
    // Unmuted, Bob is back in the feed.
    assert_eq!(
        alice.delete("/api/users/bob/mute").await.0,
        StatusCode::NO_CONTENT
    );
    let (_, feed) = alice.get("/api/feed").await;
    assert!(feed.to_string().contains("before the mute"));
    let (s, v) = alice.put("/api/users/alice/mute").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(
        alice.put("/api/users/nobody/mute").await.0,
        StatusCode::NOT_FOUND
    );
}
