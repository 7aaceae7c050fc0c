//! Profiles and the friend graph: requests, answers, withdrawals, the
//! friend list, unfriending, and the counters and relationship they show.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, assert_error, spawn_app};

async fn profile(c: &Client, username: &str) -> Value {
    let (status, v) = c.get(&format!("/api/users/{username}")).await;
    assert_eq!(status, StatusCode::OK, "{username}: {v}");
    v
}

async fn request(c: &Client, to: &str) -> (StatusCode, Value) {
    c.post("/api/friends/requests", json!({"username": to}))
        .await
}

pub(crate) fn usernames(page: &Value, key: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|i| i[key]["username"].as_str().expect("username").to_string())
        .collect()
}

#[tokio::test]
async fn profiles_show_counts_and_relationship() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;

    let p = profile(&alice, "alice").await;
    assert_eq!(p["relationship"], "self");
    assert_eq!(p["user"]["username"], "alice");
    assert_eq!(p["friend_count"], 0);
    assert_eq!(p["post_count"], 0);
    assert!(p["user"].get("password_hash").is_none());

    // Case-insensitive lookup.
    let p = profile(&bob, "ALICE").await;
    assert_eq!(p["user"]["username"], "alice");
    assert_eq!(p["relationship"], "none");

    let (status, v) = request(&alice, "bob").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(profile(&alice, "bob").await["relationship"], "request_sent");
    assert_eq!(
        profile(&bob, "alice").await["relationship"],
        "request_received"
    );
    assert_eq!(profile(&carol, "alice").await["relationship"], "none");

    alice.befriend(&carol, "carol").await;
    assert_eq!(profile(&alice, "carol").await["relationship"], "friends");
    assert_eq!(profile(&carol, "alice").await["relationship"], "friends");
    assert_eq!(profile(&dave, "alice").await["friend_count"], 1);
    assert_eq!(profile(&dave, "carol").await["friend_count"], 1);

    alice.new_post("one", "public").await;
    alice.new_post("two", "friends").await;
    assert_eq!(profile(&dave, "alice").await["post_count"], 2);

    let (status, v) = alice.get("/api/users/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&v, "not_found");
    let (status, _) = app.client().get("/api/users/alice").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sending_requests() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    let (status, v) = request(&alice, "alice").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_error(&v, "invalid");
    // Yourself under another case is still yourself.
    let (status, _) = request(&alice, "Alice").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (status, v) = request(&alice, "nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");

    let (status, v) = request(&alice, "bob").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "pending");
    assert!(v["id"].is_string());
    let (_, incoming) = bob.get("/api/friends/requests").await;
    assert_eq!(incoming["items"][0]["id"], v["id"]);
    assert_eq!(usernames(&incoming, "user"), ["alice"]);

    let (status, v) = request(&alice, "bob").await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_error(&v, "conflict");
    let (status, _) = request(&alice, "BOB").await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, _) = app
        .client()
        .post("/api/friends/requests", json!({"username": "bob"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_mutual_request_accepts_at_once() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (status, first) = request(&alice, "bob").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v) = request(&bob, "alice").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["id"], first["id"], "answers the request it accepted");

    assert_eq!(profile(&alice, "bob").await["relationship"], "friends");
    assert_eq!(profile(&alice, "alice").await["friend_count"], 1);
    assert_eq!(profile(&bob, "bob").await["friend_count"], 1);
    // No requests are left pending either way.
    for c in [&alice, &bob] {
        for dir in ["incoming", "outgoing"] {
            let (_, v) = c
                .get(&format!("/api/friends/requests?direction={dir}"))
                .await;
            assert_eq!(v["items"], json!([]), "{dir}: {v}");
        }
    }
    // Now already friends, from either side.
    for (c, to) in [(&alice, "bob"), (&bob, "alice")] {
        let (status, v) = request(c, to).await;
        assert_eq!(status, StatusCode::CONFLICT, "{v}");
        assert_error(&v, "conflict");
    }
}

#[tokio::test]
async fn listing_requests_both_ways() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;

    let (_, r1) = request(&bob, "alice").await;
    let (status, _) = request(&carol, "alice").await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, r3) = request(&alice, "carol").await; // accepts carol's
    assert_eq!(r3["status"], "accepted");
    let (_, r4) = request(&bob, "carol").await;

    let (status, incoming) = alice.get("/api/friends/requests").await;
    assert_eq!(status, StatusCode::OK, "{incoming}");
    assert_eq!(usernames(&incoming, "user"), ["bob"]);
    assert_eq!(incoming["items"][0]["id"], r1["id"]);
    assert!(incoming["items"][0]["created_at"].is_string());
    assert_eq!(incoming["next_cursor"], Value::Null);
    let (_, same) = alice.get("/api/friends/requests?direction=incoming").await;
    assert_eq!(same["items"], incoming["items"]);

    let (_, outgoing) = bob.get("/api/friends/requests?direction=outgoing").await;
    // Newest first; the other party is the addressee.
    assert_eq!(usernames(&outgoing, "user"), ["carol", "alice"]);
    assert_eq!(outgoing["items"][0]["id"], r4["id"]);
    assert_eq!(outgoing["items"][1]["id"], r1["id"]);
    let (_, none) = alice.get("/api/friends/requests?direction=outgoing").await;
    assert_eq!(none["items"], json!([]));

    // Paged one at a time.
    let (_, p1) = bob
        .get("/api/friends/requests?direction=outgoing&limit=1")
        .await;
    assert_eq!(usernames(&p1, "user"), ["carol"]);
    let cursor = p1["next_cursor"].as_str().expect("a next page");
    let (_, p2) = bob
        .get(&format!(
            "/api/friends/requests?direction=outgoing&limit=1&cursor={cursor}"
        ))
        .await;
    assert_eq!(usernames(&p2, "user"), ["alice"]);
    assert_eq!(p2["next_cursor"], Value::Null);

    let (status, v) = alice.get("/api/friends/requests?direction=sideways").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&v, "bad_request");
}

#[tokio::test]
async fn only_the_addressee_answers_a_request() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let eve = app.user("eve").await;

    let (_, r) = request(&alice, "bob").await;
    let id = r["id"].as_str().expect("id").to_string();
    for action in ["accept", "decline"] {
        let path = format!("/api/friends/requests/{id}/{action}");
        let (status, v) = alice.post_empty(&path).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "sender {action}: {v}");
        assert_error(&v, "forbidden");
        let (status, v) = eve.post_empty(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "third {action}: {v}");
        assert_error(&v, "not_found");
    }
    // Still pending.
    assert_eq!(profile(&alice, "bob").await["relationship"], "request_sent");

    let (status, v) = bob
        .post_empty(&format!("/api/friends/requests/{id}/accept"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(profile(&alice, "bob").await["relationship"], "friends");
    assert_eq!(profile(&eve, "alice").await["friend_count"], 1);
    assert_eq!(profile(&eve, "bob").await["friend_count"], 1);
    // The request is gone once answered.
    let (status, _) = bob
        .post_empty(&format!("/api/friends/requests/{id}/accept"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, v) = bob.get("/api/friends/requests").await;
    assert_eq!(v["items"], json!([]));
}

#[tokio::test]
async fn declining_a_request() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (_, r) = request(&alice, "bob").await;
    let id = r["id"].as_str().expect("id");
    let (status, v) = bob
        .post_empty(&format!("/api/friends/requests/{id}/decline"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(profile(&alice, "bob").await["relationship"], "none");
    assert_eq!(profile(&alice, "bob").await["friend_count"], 0);
    let (_, v) = alice.get("/api/friends/requests?direction=outgoing").await;
    assert_eq!(v["items"], json!([]));
    // Declined is not final: Alice may ask again.
    let (status, v) = request(&alice, "bob").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "pending");
}

#[tokio::test]
async fn the_sender_withdraws_a_request() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let eve = app.user("eve").await;
    let (_, r) = request(&alice, "bob").await;
    let path = format!("/api/friends/requests/{}", r["id"].as_str().expect("id"));

    let (status, v) = bob.delete(&path).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "addressee: {v}");
    assert_error(&v, "forbidden");
    let (status, v) = eve.delete(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "third: {v}");
    assert_error(&v, "not_found");
    let (_, v) = bob.get("/api/friends/requests").await;
    assert_eq!(usernames(&v, "user"), ["alice"]);

    let (status, v) = alice.delete(&path).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (_, v) = bob.get("/api/friends/requests").await;
    assert_eq!(v["items"], json!([]));
    assert_eq!(profile(&alice, "bob").await["relationship"], "none");
    let (status, _) = alice.delete(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn friends_list_lookup_and_unfriend() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    alice.befriend(&bob, "bob").await;
    carol.befriend(&alice, "alice").await;

    let (status, v) = alice.get("/api/friends").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let mut names = usernames(&v, "user");
    names.sort();
    assert_eq!(names, ["bob", "carol"]);
    assert!(v["items"][0]["since"].is_string());
    assert_eq!(v["next_cursor"], Value::Null);

    // Pages of one, walked to the end.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/friends?limit=1&cursor={c}"),
            None => "/api/friends?limit=1".to_string(),
        };
        let (status, page) = alice.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(usernames(&page, "user"));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(seen.len() <= 2, "pagination does not end: {seen:?}");
    }
    seen.sort();
    assert_eq!(seen, ["bob", "carol"]);

    let (_, v) = bob.get("/api/friends").await;
    assert_eq!(usernames(&v, "user"), ["alice"]);
    let (_, v) = dave.get("/api/friends").await;
    assert_eq!(v["items"], json!([]));

    let (status, v) = alice.get("/api/friends/bob").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["user"]["username"], "bob");
    assert!(v["since"].is_string());
    let (status, v) = alice.get("/api/friends/dave").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");
    let (status, _) = alice.get("/api/friends/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(profile(&dave, "alice").await["friend_count"], 2);
    let (status, v) = alice.delete("/api/friends/bob").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(profile(&dave, "alice").await["friend_count"], 1);
    assert_eq!(profile(&dave, "bob").await["friend_count"], 0);
    assert_eq!(profile(&alice, "bob").await["relationship"], "none");
    let (status, _) = bob.get("/api/friends/alice").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "gone from both sides");
    let (_, v) = bob.get("/api/friends").await;
    assert_eq!(v["items"], json!([]));

    for path in [
        "/api/friends/bob",
        "/api/friends/dave",
        "/api/friends/nobody",
    ] {
        let (status, v) = alice.delete(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {v}");
        assert_error(&v, "not_found");
    }
    // Counters never go below what is true.
    assert_eq!(profile(&dave, "alice").await["friend_count"], 1);
    assert_eq!(profile(&dave, "bob").await["friend_count"], 0);

    // Friends again after unfriending.
    bob.befriend(&alice, "alice").await;
    assert_eq!(profile(&dave, "alice").await["friend_count"], 2);
}
