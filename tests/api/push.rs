//! Web Push against a real push service on loopback: web-push-testing
//! (npm), which checks each request's VAPID JWT against the key the
//! subscription was made with and decrypts the aes128gcm payload as a
//! browser would. Routing by presence (socket when connected, push when
//! not; a chat message pushed when still unread a few seconds later),
//! preferences, the push service forgetting a subscription, bad input, and
//! the email digest through a real SMTP server (aiosmtpd).

use std::time::Duration;

use kith::config::MailConfig;
use serde_json::{Value, json};

use crate::helpers::{Person, TIMEOUT, TestApp, direct, person, spawn_with};
use crate::push_service::{Browser, PENDING_PUSHES, PushService, until_no_pending};
use crate::smtp::Sink;
use crate::ws::Ws;

async fn app(mail: Option<String>) -> TestApp {
    spawn_with(|c| {
        c.push_allow_private = true;
        c.job_retry_base = Duration::from_millis(100);
        if let Some(smtp_url) = mail {
            c.mail = Some(MailConfig {
                smtp_url,
                from: "kith <kith@example.org>".into(),
            });
            c.digest_after = Duration::from_secs(2);
        }
    })
    .await
}

async fn subscribed(app: &TestApp, push: &PushService, p: &Person) -> Browser {
    let (_, key) = p.http.get("/api/push/key").await;
    let key = key["public_key"].as_str().expect("public_key");
    assert_eq!(key.len(), 87, "a base64url P-256 point");
    let b = push.subscribe(key).await;
    let (s, v) = p.http.post("/api/push/subscriptions", b.json.clone()).await;
    assert_eq!(s, 201, "{v}");
    let _ = app;
    b
}

/// Waits for `p`'s notification that a friend accepted (stored in the
/// background), then marks everything read: a clean slate.
async fn seen_all(p: &Person) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (_, list) = p.http.get("/api/notifications").await;
        if list["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|n| n["kind"] == "friend_accepted"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no friend_accepted: {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = p.http.post("/api/notifications/read", json!({})).await;
    assert_eq!(s, 204);
}

async fn put_prefs(p: &Person, body: &Value) -> reqwest::Response {
    p.http
        .req(reqwest::Method::PUT, "/api/notifications/preferences")
        .json(body)
        .send()
        .await
        .expect("sent")
}

/// A push service, a server, alice and bob (friends), and alice's browser
/// subscribed.
async fn friends_with_a_browser() -> (PushService, TestApp, Person, Person, Browser) {
    let push = PushService::start().await;
    let app = app(None).await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    alice.http.befriend(&bob.http, "bob").await;
    let browser = subscribed(&app, &push, &alice).await;
    (push, app, alice, bob, browser)
}

async fn until_push_jobs_done(app: &TestApp) {
    until_no_pending(|| app.db_count(PENDING_PUSHES)).await;
}

#[tokio::test]
async fn a_notification_is_pushed_when_its_user_is_away_and_not_when_connected() {
    let (push, app, alice, bob, browser) = friends_with_a_browser().await;
    // The same browser again (keys renewed): the same subscription.
    let (s, v) = alice
        .http
        .post("/api/push/subscriptions", browser.json.clone())
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, list) = alice.http.get("/api/push/subscriptions").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["items"][0]["service"], "localhost");

    // Away: bob's comment reaches her browser, decrypted there.
    let post = alice.http.new_post("picnic on sunday", "public").await;
    bob.http.new_comment(&post, "count me in").await;
    let got = push.until_received(&browser, 1).await;
    let m = &got[0];
    assert_eq!(m["kind"], "comment", "{m}");
    assert_eq!(m["title"], "bob commented on your post");
    assert_eq!(m["body"], "“count me in”");
    assert_eq!(m["url"], format!("/#/post/{post}"));
    let (_, list) = alice.http.get("/api/notifications").await;
    assert_eq!(
        m["id"], list["items"][0]["id"],
        "the push names the notification"
    );

    // Connected: the socket shows it, no push.
    let mut ws = Ws::open(&app, &alice).await;
    bob.http.new_comment(&post, "and my dog").await;
    ws.next_of("notification").await;
    until_push_jobs_done(&app).await;
    assert_eq!(
        push.received(&browser).await.len(),
        1,
        "no push while connected"
    );

    // A chat message is pushed while connected, when still unread 5 s on.
    let conv = direct(&bob.http, "alice").await;
    let mut bws = Ws::open(&app, &bob).await;
    bws.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "m1", "body": "are you there?"}))
        .await;
    bws.next_of("ack").await;
    let got = push.until_received(&browser, 2).await;
    let m = &got[1];
    assert_eq!(m["kind"], "message", "{m}");
    assert_eq!(m["url"], format!("/#/chat/{conv}"));
    assert_eq!(m["tag"], format!("chat-{conv}"));
    assert_eq!(m["title"], "New message from bob");

    // Read within the delay: no push. (Marking her chat notification read
    // lets the next message notify again.)
    let (s, _) = alice.http.post("/api/notifications/read", json!({})).await;
    assert_eq!(s, 204);
    bws.send(
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "m2", "body": "hello?"}),
    )
    .await;
    let ack = bws.next_of("ack").await;
    ws.send(json!({"type": "read", "conversation_id": conv, "seq": ack["seq"]}))
        .await;
    until_push_jobs_done(&app).await;
    assert_eq!(
        push.received(&browser).await.len(),
        2,
        "a message read in time is not pushed"
    );

    // The browser unsubscribed: the 410 removes the subscription.
    push.expire(&browser).await;
    drop(ws);
    tokio::time::sleep(Duration::from_millis(300)).await;
    bob.http.new_comment(&post, "hello again").await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (_, list) = alice.http.get("/api/push/subscriptions").await;
        if list["items"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a 410 left the subscription: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn preferences_choose_the_channels_of_each_kind() {
    let (push, app, alice, bob, browser) = friends_with_a_browser().await;
    seen_all(&alice).await;

    let (s, p) = alice.http.get("/api/notifications/preferences").await;
    assert_eq!(s, 200);
    assert_eq!(
        p["kinds"]["like"],
        json!({"app": true, "push": false, "email": false})
    );
    assert_eq!(
        p["kinds"]["message"],
        json!({"app": true, "push": true, "email": true})
    );
    for bad in [
        json!({"kinds": {"pokes": {"push": true}}}),
        json!({"kinds": {"like": {"sms": true}}}),
        json!({"kinds": {"like": {"push": "yes"}}}),
        json!({"likes": true}),
    ] {
        let r = put_prefs(&alice, &bad).await;
        assert_eq!(r.status(), 422, "{bad}");
        let text = r.text().await.expect("body");
        assert!(
            text.contains("unprocessable") || text.contains("invalid"),
            "{text}"
        );
    }
    assert_eq!(
        app.db_count("SELECT count(*) FROM notification_prefs")
            .await,
        0,
        "nothing stored"
    );

    // Likes by push, comments not at all in the app (but by push).
    let r = put_prefs(
        &alice,
        &json!({"kinds": {"like": {"push": true}, "comment": {"app": false}}}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.expect("json");
    assert_eq!(p["kinds"]["like"]["push"], true);
    assert_eq!(p["kinds"]["comment"]["app"], false);

    let post = alice.http.new_post("look", "public").await;
    let (s, _) = bob.http.put(&format!("/api/posts/{post}/like")).await;
    assert_eq!(s, 200);
    let got = push.until_received(&browser, 1).await;
    assert_eq!(got[0]["kind"], "like");
    // Connected, with comments off in the app: the comment still comes by
    // push, and nothing on the socket or in the unread count.
    let mut ws = Ws::open(&app, &alice).await;
    bob.http.new_comment(&post, "nice").await;
    let got = push.until_received(&browser, 2).await;
    assert_eq!(got[1]["kind"], "comment");
    let (_, list) = alice.http.get("/api/notifications").await;
    assert_eq!(list["unread"], 1, "only the like is unread: {list}");
    assert!(
        ws.next_within(Duration::from_millis(500))
            .await
            .is_none_or(|f| f["type"] != "notification"),
        "no comment notification on the socket"
    );
    // Push off for likes again: a like sends nothing.
    let r = put_prefs(&alice, &json!({"kinds": {"like": {"push": false}}})).await;
    assert_eq!(r.status(), 200);
    drop(ws);
    let carol = person(&app, "carol").await;
    let (s, _) = carol.http.put(&format!("/api/posts/{post}/like")).await;
    assert_eq!(s, 200);
    until_push_jobs_done(&app).await;
    assert_eq!(
        app.db_count("SELECT count(*) FROM jobs WHERE kind = 'web_push'")
            .await,
        2,
        "no job for a kind pushed to no one"
    );
}

#[tokio::test]
async fn bad_subscriptions_are_refused_and_nothing_is_stored() {
    let push = PushService::start().await;
    let strict = spawn_with(|_| {}).await;
    let app = app(None).await;
    let alice = person(&app, "alice").await;
    let (_, key) = alice.http.get("/api/push/key").await;
    let key = key["public_key"].as_str().expect("key").to_string();
    let b = push.subscribe(&key).await;
    let good_keys = b.json["keys"].clone();

    // Plain http and loopback, without the flag.
    let eve = person(&strict, "eve").await;
    let (s, v) = eve
        .http
        .post("/api/push/subscriptions", b.json.clone())
        .await;
    assert_eq!(s, 422, "{v}");
    let https_loopback = json!({"endpoint": "https://127.0.0.1:9/x", "keys": good_keys});
    let (s, v) = eve
        .http
        .post("/api/push/subscriptions", https_loopback)
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v.to_string().contains("loopback"), "{v}");

    for (body, what) in [
        (
            json!({"endpoint": "http://169.254.169.254/latest", "keys": good_keys}),
            "the metadata address, even with the flag",
        ),
        (
            json!({"endpoint": "ftp://push.example/x", "keys": good_keys}),
            "not http(s)",
        ),
        (
            json!({"endpoint": "not a url", "keys": good_keys}),
            "not a URL",
        ),
        (
            json!({"endpoint": b.json["endpoint"], "keys": {"p256dh": "AAAA", "auth": good_keys["auth"]}}),
            "a short key",
        ),
        (
            json!({"endpoint": b.json["endpoint"], "keys": {"p256dh": good_keys["p256dh"], "auth": "AAAA"}}),
            "a short auth",
        ),
        (json!({"endpoint": b.json["endpoint"]}), "no keys"),
    ] {
        let (s, v) = alice.http.post("/api/push/subscriptions", body).await;
        assert!(s == 422 || s == 400, "{what}: {s} {v}");
    }
    assert_eq!(
        app.db_count("SELECT count(*) FROM push_subscriptions")
            .await,
        0
    );

    // Ten devices, not eleven.
    for _ in 0..10 {
        let b = push.subscribe(&key).await;
        let (s, v) = alice.http.post("/api/push/subscriptions", b.json).await;
        assert_eq!(s, 201, "{v}");
    }
    let b = push.subscribe(&key).await;
    let (s, v) = alice
        .http
        .post("/api/push/subscriptions", b.json.clone())
        .await;
    assert_eq!(s, 413, "{v}");
    assert_eq!(
        app.db_count("SELECT count(*) FROM push_subscriptions")
            .await,
        10
    );
    // Turning one off makes room.
    let r = alice
        .http
        .req(reqwest::Method::DELETE, "/api/push/subscriptions")
        .json(&json!({"endpoint": push_endpoint_of(&app, "alice").await}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 204);
    let (s, v) = alice.http.post("/api/push/subscriptions", b.json).await;
    assert_eq!(s, 201, "{v}");
}

async fn push_endpoint_of(app: &TestApp, user: &str) -> String {
    sqlx::query_scalar(
        "SELECT s.endpoint FROM push_subscriptions s JOIN users u ON u.id = s.user_id
         WHERE u.username = ? ORDER BY s.id LIMIT 1",
    )
    .bind(user)
    .fetch_one(&app.state.read)
    .await
    .expect("an endpoint")
}

#[tokio::test]
async fn what_stays_unread_goes_into_one_digest_mail() {
    let sink = Sink::start();
    let app = app(Some(sink.url())).await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    alice.http.befriend(&bob.http, "bob").await;
    // Alice's verified address (the verification flow has its own tests).
    {
        let conn = kith::db::open_writer_connection(&app.state.config.db).expect("open");
        conn.execute(
            "UPDATE users SET email = 'alice@example.org' WHERE username = 'alice'",
            [],
        )
        .expect("set email");
    }
    // Seen already: bob accepting her request.
    seen_all(&alice).await;
    let conv = direct(&bob.http, "alice").await;
    let mut bws = Ws::open(&app, &bob).await;
    bws.send(
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "d1", "body": "dinner?"}),
    )
    .await;
    bws.next_of("ack").await;
    let post = alice.http.new_post("a post", "public").await;
    // Likes are not mailed by default; the message is.
    let (s, _) = bob.http.put(&format!("/api/posts/{post}/like")).await;
    assert_eq!(s, 200);

    let got = sink.until_received(1, TIMEOUT).await;
    let m = &got[0];
    assert_eq!(m.rcpt_tos, vec!["alice@example.org".to_string()]);
    assert_eq!(
        m.header("Subject").as_deref(),
        Some("kith: 1 thing you have not seen"),
        "{}",
        m.body()
    );
    let body = m.body();
    assert!(body.contains("bob sent you a message"), "{body}");
    assert!(!body.contains("liked"), "{body}");
    // More passes of the digest: no second mail for the same things.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.received().len(), 1, "one digest");
}

#[tokio::test]
async fn signing_out_ends_the_pushes_that_session_turned_on() {
    let (push, app, alice, _bob, _browser) = friends_with_a_browser().await;
    // A second device of hers, signed in apart, with its own browser.
    let phone = app.login("alice").await;
    let (_, key) = phone.get("/api/push/key").await;
    let b = push
        .subscribe(key["public_key"].as_str().expect("key"))
        .await;
    let (s, v) = phone.post("/api/push/subscriptions", b.json.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        app.db_count("SELECT count(*) FROM push_subscriptions")
            .await,
        2
    );
    // The phone signs out: its pushes end, the first device's stay.
    let (s, _) = phone.post_empty("/api/auth/logout").await;
    assert!(s.is_success(), "{s}");
    assert_eq!(
        app.db_count("SELECT count(*) FROM push_subscriptions")
            .await,
        1
    );
    // Signing out everywhere ends the rest.
    let (s, _) = alice.http.post_empty("/api/auth/logout-all").await;
    assert!(s.is_success(), "{s}");
    assert_eq!(
        app.db_count("SELECT count(*) FROM push_subscriptions")
            .await,
        0
    );
}
