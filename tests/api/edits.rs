//! Editing posts and comments: the author only, with the earlier versions
//! kept and shown to those who may see the post; search and tags follow.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{person, spawn_app};

async fn patch(c: &crate::helpers::Client, path: &str, body: Value) -> (StatusCode, Value) {
    c.request(Method::PATCH, path, Some(body)).await
}

fn post_ids(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key}: {v}"))
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn an_author_edits_a_post_and_everyone_who_sees_it_sees_the_history() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let eve = person(&app, "eve").await;
    alice.http.befriend(&bob.http, "bob").await;
    let post = alice.http.new_post("dinner at 8 #plans", "friends").await;
    let path = format!("/api/posts/{post}");

    let (s, v) = patch(&alice.http, &path, json!({"body": "dinner at 9 #food"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["post"]["body"], "dinner at 9 #food");
    assert!(v["post"]["edited_at"].is_string(), "{v}");
    // The same text again is no new version.
    let (s, _) = patch(&alice.http, &path, json!({"body": "dinner at 9 #food"})).await;
    assert_eq!(s, 200);

    let (s, h) = bob.http.get(&format!("{path}/history")).await;
    assert_eq!(s, 200, "{h}");
    let bodies: Vec<&str> = h["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["body"].as_str())
        .collect();
    assert_eq!(bodies, ["dinner at 8 #plans"]);
    let (s, _) = eve.http.get(&format!("{path}/history")).await;
    assert_eq!(s, 404, "not a friend: no history either");

    // Search and tags follow the edit.
    let (_, found) = alice.http.get("/api/search?q=dinner%209").await;
    assert_eq!(post_ids(&found, "posts"), vec![post.clone()], "{found}");
    let (_, old) = alice.http.get("/api/search?q=dinner%208").await;
    assert!(post_ids(&old, "posts").is_empty(), "{old}");
    let (_, tagged) = alice.http.get("/api/tags/food").await;
    assert_eq!(post_ids(&tagged, "items"), vec![post.clone()]);
    let (_, untagged) = alice.http.get("/api/tags/plans").await;
    assert!(post_ids(&untagged, "items").is_empty(), "{untagged}");

    // Not the author's: refused; nothing changes.
    let (s, _) = patch(&bob.http, &path, json!({"body": "mine now"})).await;
    assert_eq!(s, 403);
    let (s, _) = patch(&eve.http, &path, json!({"body": "mine now"})).await;
    assert_eq!(s, 404);
    let (s, _) = patch(&alice.http, &path, json!({"body": "  "})).await;
    assert_eq!(s, 422);
    let long = "x".repeat(10_001);
    let (s, _) = patch(&alice.http, &path, json!({"body": long})).await;
    assert_eq!(s, 422);
    let (_, v) = alice.http.get(&path).await;
    assert_eq!(v["post"]["body"], "dinner at 9 #food");
}

#[tokio::test]
async fn an_author_edits_a_comment_with_its_history() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    alice.http.befriend(&bob.http, "bob").await;
    let post = alice.http.new_post("a post", "friends").await;
    let comment = bob.http.new_comment(&post, "frist").await;
    let path = format!("/api/comments/{comment}");
    let (s, v) = patch(&bob.http, &path, json!({"body": "first"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["comment"]["body"], "first");
    assert!(v["comment"]["edited_at"].is_string());
    let (s, _) = patch(&alice.http, &path, json!({"body": "third"})).await;
    assert_eq!(s, 403, "the post's author may delete it, not edit it");
    let (s, h) = alice.http.get(&format!("{path}/history")).await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["items"][0]["body"], "frist");
    let (_, list) = alice.http.get(&format!("/api/posts/{post}/comments")).await;
    assert_eq!(list["items"][0]["body"], "first", "{list}");
}
