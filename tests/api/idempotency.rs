//! `Idempotency-Key`: a write sent again with the same key is answered as
//! the first time and not applied again; a key names one request of one
//! person; a write that failed is not remembered.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Client, assert_error, send, spawn_app};

/// Sends `method path` with `body` under `key`; status, whether the answer
/// was a replay, and the body.
async fn keyed(
    c: &Client,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, bool, Value) {
    let mut req = c.req(method, path).header("idempotency-key", key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (status, headers, v) = send(req).await;
    let replayed = headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, replayed, v)
}

/// A public post of `text` under `key`.
async fn keyed_post(c: &Client, key: &str, text: &str) -> (StatusCode, bool, Value) {
    let body = json!({"body": text, "visibility": "public"});
    keyed(c, Method::POST, "/api/posts", key, Some(body)).await
}

#[tokio::test]
async fn a_repeated_post_and_comment_are_created_once_and_answered_alike() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let (s1, r1, first) = keyed_post(&alice, "k-1", "once only").await;
    assert_eq!(s1, StatusCode::CREATED, "{first}");
    assert!(!r1, "a first attempt is no replay");
    let (s2, r2, again) = keyed_post(&alice, "k-1", "once only").await;
    assert_eq!(s2, StatusCode::CREATED, "{again}");
    assert!(r2, "the repeat says it is one");
    assert_eq!(again["post"]["id"], first["post"]["id"]);
    assert_eq!(again["post"]["body"], "once only");
    assert_eq!(app.db_count("SELECT COUNT(*) FROM posts").await, 1);

    let post = first["post"]["id"].as_str().expect("id");
    let path = format!("/api/posts/{post}/comments");
    let comment = json!({"body": "first!"});
    let (s, _, c1) = keyed(&alice, Method::POST, &path, "k-2", Some(comment.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{c1}");
    let (s, _, c2) = keyed(&alice, Method::POST, &path, "k-2", Some(comment)).await;
    assert_eq!(s, StatusCode::CREATED, "{c2}");
    assert_eq!(c1, c2);
    assert_eq!(app.db_count("SELECT COUNT(*) FROM comments").await, 1);
    // Without a key, a repeat is a new write, as before.
    let (s, v) = alice.post(&path, json!({"body": "first!"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(app.db_count("SELECT COUNT(*) FROM comments").await, 2);
}

#[tokio::test]
async fn the_same_key_sent_at_once_from_eight_places_makes_one_post() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let alice = alice.clone();
        calls.spawn(async move { keyed_post(&alice, "race", "racing").await });
    }
    let mut ids = Vec::new();
    while let Some(r) = calls.join_next().await {
        let (s, _, v) = r.expect("task");
        assert_eq!(s, StatusCode::CREATED, "{v}");
        ids.push(v["post"]["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every attempt names the one post: {ids:?}");
    assert_eq!(app.db_count("SELECT COUNT(*) FROM posts").await, 1);
}

#[tokio::test]
async fn a_key_names_one_request_of_one_person() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let (s, _, _) = keyed_post(&alice, "shared", "alice's").await;
    assert_eq!(s, StatusCode::CREATED);
    // The same key with another body: refused, nothing written.
    let (s, _, v) = keyed_post(&alice, "shared", "something else").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_error(&v, "idempotency_key_reused");
    // Another person's key of the same name is their own.
    let (s, replayed, v) = keyed_post(&bob, "shared", "bob's").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(!replayed);
    assert_eq!(v["post"]["body"], "bob's");
    assert_eq!(app.db_count("SELECT COUNT(*) FROM posts").await, 2);
}

#[tokio::test]
async fn a_late_repeat_does_not_undo_what_came_after() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let post = alice.new_post("like me", "public").await;
    let like = format!("/api/posts/{post}/like");
    let (s, _, v) = keyed(&alice, Method::PUT, &like, "like-1", None).await;
    assert_eq!((s, &v["liked"]), (StatusCode::OK, &json!(true)), "{v}");
    let (s, _, v) = keyed(&alice, Method::DELETE, &like, "unlike-1", None).await;
    assert_eq!((s, &v["liked"]), (StatusCode::OK, &json!(false)), "{v}");
    // The like's retry arrives last: it answers as it did, and the post
    // stays unliked.
    let (s, replayed, v) = keyed(&alice, Method::PUT, &like, "like-1", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(replayed);
    assert_eq!(v["liked"], true, "the first answer: {v}");
    assert_eq!(
        app.db_count("SELECT COUNT(*) FROM likes").await,
        0,
        "applied once, then undone once"
    );
}

#[tokio::test]
async fn a_write_that_failed_is_not_remembered() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let post = alice.new_post("hello", "public").await;
    let path = format!("/api/posts/{post}/comments");
    // Too long: refused before anything was written.
    let long = "x".repeat(20_000);
    let (s, _, v) = keyed(
        &alice,
        Method::POST,
        &path,
        "k",
        Some(json!({"body": long})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // A comment on a post that does not exist: refused.
    let (s, _, v) = keyed(
        &alice,
        Method::POST,
        "/api/posts/0000000000000/comments",
        "k2",
        Some(json!({"body": "hi"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // The key is free again: the corrected request goes through.
    let (s, replayed, v) = keyed(
        &alice,
        Method::POST,
        &path,
        "k",
        Some(json!({"body": "ok"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(!replayed);
    assert_eq!(app.db_count("SELECT COUNT(*) FROM comments").await, 1);
}

#[tokio::test]
async fn a_bad_key_is_refused_and_reads_ignore_keys() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let long = "k".repeat(256);
    for key in [long.as_str(), "has space", ""] {
        let (s, _, v) = keyed_post(&alice, key, "x").await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{key:?}: {v}");
        assert_error(&v, "bad_request");
    }
    assert_eq!(app.db_count("SELECT COUNT(*) FROM posts").await, 0);
    let (s, _, _) = keyed(&alice, Method::GET, "/api/feed", &long, None).await;
    assert_eq!(s, StatusCode::OK);
}
