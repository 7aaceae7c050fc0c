//! `@mentions` in posts and comments: the named are told when they may see
//! the post, not across a block, once per post or comment.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Person, TIMEOUT, person, spawn_app};

async fn mention_notes(p: &Person) -> Vec<Value> {
    let (_, v) = p.http.get("/api/notifications").await;
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|n| n["kind"] == "mention")
        .cloned()
        .collect()
}

/// Waits until `p` has `n` mention notifications.
async fn until_mentions(p: &Person, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let got = mention_notes(p).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_named_are_told_when_they_may_see_it_and_only_once() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let carol = person(&app, "carol").await;
    let dan = person(&app, "dan").await;
    alice.http.befriend(&bob.http, "bob").await;
    alice.http.befriend(&dan.http, "dan").await;
    let (s, _) = dan.http.put("/api/users/alice/block").await;
    assert!(s.is_success());

    // A friends-only post naming a friend, a stranger and someone who
    // blocked the author.
    let (s, v) = alice
        .http
        .post(
            "/api/posts",
            json!({"body": "hi @bob, @carol and @dan and @nobody_here", "visibility": "friends"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let post = v["post"]["id"].as_str().expect("id").to_string();
    assert_eq!(v["post"]["mentions"], json!(["bob", "carol", "dan"]), "{v}");
    let notes = until_mentions(&bob, 1).await;
    assert_eq!(notes[0]["post"]["id"], post.as_str());
    assert_eq!(notes[0]["actor"]["username"], "alice");

    // An edit naming bob again and carol: nobody is told twice; carol
    // still may not see it.
    let (s, _) = alice
        .http
        .request(
            Method::PATCH,
            &format!("/api/posts/{post}"),
            Some(json!({"body": "hi again @bob and @carol"})),
        )
        .await;
    assert_eq!(s, 200);
    // A comment naming bob is a new place: he is told.
    let comment = alice.http.new_comment(&post, "@bob look").await;
    let notes = until_mentions(&bob, 2).await;
    assert!(
        notes.iter().any(|n| n["comment"]["id"] == comment.as_str()),
        "{notes:?}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mention_notes(&bob).await.len(), 2, "no repeat for the edit");
    assert!(
        mention_notes(&carol).await.is_empty(),
        "carol may not see it"
    );
    assert!(mention_notes(&dan).await.is_empty(), "dan blocked alice");
    let (s, _) = alice.http.get("/api/notifications").await;
    assert_eq!(s, 200);
    assert!(mention_notes(&alice).await.is_empty());
}
