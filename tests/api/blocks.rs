//! Blocking: whoever blocks, the two are kept apart everywhere, at once,
//! on live sockets too; only the blocker can lift it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::friends::usernames;
use crate::helpers::{Client, assert_error, spawn_app};
use crate::helpers::{direct, person};
use crate::ws::Ws;

fn bodies(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|p| p["body"].as_str().expect("body").to_string())
        .collect()
}

async fn comment(c: &Client, post: &str, body: &str) {
    let (s, v) = c
        .post(
            &format!("/api/posts/{post}/comments"),
            json!({"body": body}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

async fn comments(c: &Client, post: &str) -> Vec<String> {
    let (s, v) = c.get(&format!("/api/posts/{post}/comments")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    bodies(&v["items"])
}

#[tokio::test]
async fn a_block_keeps_both_users_apart_until_the_blocker_lifts_it() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    alice.befriend(&bob, "bob").await;
    alice.befriend(&carol, "carol").await;
    bob.befriend(&carol, "carol").await;
    let bob_public = bob.new_post("bob says hello to everyone", "public").await;
    bob.new_post("bob to his friends only", "friends").await;
    let alice_public = alice
        .new_post("alice says hello to everyone", "public")
        .await;
    let carols = carol.new_post("carol asks a question", "public").await;
    comment(&alice, &carols, "an answer from alice").await;
    comment(&bob, &carols, "an answer from bob").await;

    let (s, v) = alice.put("/api/users/bob/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");

    // The friendship is gone, with its counters.
    let (_, friends) = alice.get("/api/friends").await;
    assert_eq!(usernames(&friends, "user"), vec!["carol"]);
    let (_, p) = alice.get("/api/users/alice").await;
    assert_eq!(p["friend_count"], 1);
    // Alice sees bob as blocked; to bob, alice is not there.
    let (s, p) = alice.get("/api/users/bob").await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["relationship"], "blocked");
    let (s, v) = bob.get("/api/users/alice").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    // No requests either way.
    let (s, v) = bob
        .post("/api/friends/requests", json!({"username": "alice"}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, v) = alice
        .post("/api/friends/requests", json!({"username": "bob"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("a string")
            .contains("unblock")
    );

    // Posts: not in the feed, not by id, not in profiles, not in search;
    // not likeable or commentable.
    let (_, feed) = alice.get("/api/feed").await;
    assert!(!bodies(&feed["items"]).iter().any(|b| b.starts_with("bob")));
    let (s, _) = alice.get(&format!("/api/posts/{bob_public}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = bob.get(&format!("/api/posts/{alice_public}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, posts) = alice.get("/api/users/bob/posts").await;
    assert_eq!(posts["items"], json!([]));
    let (_, found) = alice.get("/api/search?q=hello").await;
    assert_eq!(
        bodies(&found["posts"]),
        vec!["alice says hello to everyone"]
    );
    let (_, found) = bob.get("/api/search?q=hello").await;
    assert_eq!(bodies(&found["posts"]), vec!["bob says hello to everyone"]);
    let (_, found) = bob.get("/api/search?q=alice").await;
    assert_eq!(found["users"], json!([]));
    let (s, _) = alice.put(&format!("/api/posts/{bob_public}/like")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = bob
        .post(
            &format!("/api/posts/{alice_public}/comments"),
            json!({"body": "hi"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Comments under a third user's post: each misses the other's.
    assert_eq!(
        comments(&alice, &carols).await,
        vec!["an answer from alice"]
    );
    assert_eq!(comments(&bob, &carols).await, vec!["an answer from bob"]);
    assert_eq!(comments(&carol, &carols).await.len(), 2);
    // Carol, who blocked no one, still sees everyone.
    let (s, _) = carol.get(&format!("/api/posts/{bob_public}")).await;
    assert_eq!(s, StatusCode::OK);

    // The list of blocks is the blocker's.
    let (_, blocks) = alice.get("/api/blocks").await;
    assert_eq!(usernames(&blocks, "user"), vec!["bob"]);
    let (_, blocks) = bob.get("/api/blocks").await;
    assert_eq!(blocks["items"], json!([]));

    // Bad input: yourself, no one; twice is fine.
    let (s, v) = alice.put("/api/users/alice/block").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = alice.put("/api/users/nobody/block").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");
    let (s, _) = alice.put("/api/users/bob/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Bob cannot lift alice's block.
    let (s, _) = bob.delete("/api/users/alice/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = bob.get("/api/users/alice").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Alice can; then they may become friends again.
    let (s, _) = alice.delete("/api/users/bob/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, p) = alice.get("/api/users/bob").await;
    assert_eq!(p["relationship"], "none");
    let (s, _) = alice.get(&format!("/api/posts/{bob_public}")).await;
    assert_eq!(s, StatusCode::OK);
    alice.befriend(&bob, "bob").await;
}

/// Frames up to and including the first of `kind` about `user`.
async fn until_presence(ws: &mut Ws, user: &str, status: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let v = ws.next_of("presence").await;
        seen.push(v.clone());
        if v["user"] == user && v["status"] == status {
            return seen;
        }
    }
}

#[tokio::test]
async fn blocking_and_unfriending_take_effect_on_live_sockets() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let b = person(&app, "bob").await;
    let c = person(&app, "carol").await;
    a.http.befriend(&b.http, "bob").await;
    a.http.befriend(&c.http, "carol").await;
    let conv = direct(&a.http, "bob").await;

    let mut alice = Ws::open(&app, &a).await;
    let mut bob = Ws::open(&app, &b).await;
    until_presence(&mut alice, "bob", "online").await;

    // Unfriending: both sockets hear the other go offline at once.
    let (s, _) = a.http.delete("/api/friends/bob").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    until_presence(&mut alice, "bob", "offline").await;
    until_presence(&mut bob, "alice", "offline").await;

    // Friends again, then blocked by bob.
    a.http.befriend(&b.http, "bob").await;
    let (s, _) = b.http.put("/api/users/alice/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    until_presence(&mut alice, "bob", "offline").await;
    until_presence(&mut bob, "alice", "offline").await;

    // Bob reconnecting is no longer shown to alice: the next presence she
    // sees is carol's, who came online after him.
    drop(bob);
    let mut bob = Ws::open(&app, &b).await;
    let _carol = Ws::open(&app, &c).await;
    let seen = until_presence(&mut alice, "carol", "online").await;
    assert!(
        seen.iter().all(|f| f["user"] != "bob"),
        "alice saw bob's presence after the block: {seen:?}"
    );

    // Neither may message nor type in their direct conversation.
    for (ws, cid) in [(&mut alice, "a1"), (&mut bob, "b1")] {
        ws.send(
            json!({"type": "send", "conversation_id": conv, "client_msg_id": cid, "body": "hi"}),
        )
        .await;
        let e = ws.next_of("error").await;
        assert_eq!(e["code"], "forbidden", "{e}");
        ws.send(json!({"type": "typing", "conversation_id": conv}))
            .await;
        let e = ws.next_of("error").await;
        assert_eq!(e["code"], "forbidden", "{e}");
    }
    let (_, msgs) = a
        .http
        .get(&format!("/api/conversations/{conv}/messages"))
        .await;
    assert_eq!(msgs["items"], json!([]), "{msgs}");
}
