//! The home feed: whose posts, in what order, with what counters, and
//! cursor pagination across many pages.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, assert_error, ids, spawn_app};

/// Walks the feed with `limit` per page; returns every page's ids.
async fn walk(c: &Client, limit: u32) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cur) => format!("/api/feed?limit={limit}&cursor={cur}"),
            None => format!("/api/feed?limit={limit}"),
        };
        let (status, page) = c.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        let got = ids(&page);
        assert!(got.len() <= limit as usize, "page larger than limit");
        let next = page["next_cursor"].as_str().map(str::to_string);
        if next.is_some() {
            assert_eq!(got.len(), limit as usize, "a short page before the end");
        }
        pages.push(got);
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
        assert!(pages.len() <= 100, "pagination does not end");
    }
    pages
}

#[tokio::test]
async fn the_feed_holds_own_and_friends_posts_only() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let stranger = app.user("stranger").await;
    let asker = app.user("asker").await;
    alice.befriend(&bob, "bob").await;
    // A pending request is not a friendship.
    let (status, _) = asker
        .post("/api/friends/requests", json!({"username": "alice"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let mut expected = Vec::new();
    for (who, body, vis) in [
        (&alice, "alice public", "public"),
        (&bob, "bob friends", "friends"),
        (&stranger, "stranger public", "public"),
        (&stranger, "stranger friends", "friends"),
        (&alice, "alice friends", "friends"),
        (&asker, "asker public", "public"),
        (&bob, "bob public", "public"),
    ] {
        let id = who.new_post(body, vis).await;
        if !body.starts_with("stranger") && !body.starts_with("asker") {
            expected.push(id);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    expected.reverse();

    let (status, feed) = alice.get("/api/feed").await;
    assert_eq!(status, StatusCode::OK, "{feed}");
    assert_eq!(ids(&feed), expected, "newest first, friends' and own");
    assert_eq!(feed["next_cursor"], Value::Null);
    let (_, bobs) = bob.get("/api/feed").await;
    assert_eq!(ids(&bobs), expected, "the same from the other side");

    let (_, theirs) = stranger.get("/api/feed").await;
    let bodies: Vec<&str> = theirs["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["body"].as_str().expect("body"))
        .collect();
    assert_eq!(bodies, ["stranger friends", "stranger public"]);

    // Unfriending removes Bob's posts from Alice's feed.
    let (status, _) = alice.delete("/api/friends/bob").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, feed) = alice.get("/api/feed").await;
    let authors: Vec<&str> = feed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["author"]["username"].as_str().expect("author"))
        .collect();
    assert_eq!(authors, ["alice", "alice"]);

    let (status, _) = app.client().get("/api/feed").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn feed_items_carry_counters_for_the_reader() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    alice.befriend(&bob, "bob").await;
    let id = bob.new_post("count me", "friends").await;
    let (status, _) = alice.put(&format!("/api/posts/{id}/like")).await;
    assert_eq!(status, StatusCode::OK);
    for text in ["a", "b"] {
        let (status, _) = alice
            .post(&format!("/api/posts/{id}/comments"), json!({"body": text}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }

    let (_, feed) = alice.get("/api/feed").await;
    let p = &feed["items"][0];
    assert_eq!(p["id"], json!(id));
    assert_eq!(p["like_count"], 1);
    assert_eq!(p["comment_count"], 2);
    assert_eq!(p["liked_by_me"], true);
    assert_eq!(p["visibility"], "friends");
    assert_eq!(p["author"]["username"], "bob");

    let (_, feed) = bob.get("/api/feed").await;
    let p = &feed["items"][0];
    assert_eq!(p["like_count"], 1);
    assert_eq!(p["comment_count"], 2);
    assert_eq!(p["liked_by_me"], false);
}

#[tokio::test]
async fn paging_through_a_long_feed_sees_every_post_once_in_order() {
    const POSTS: usize = 45;
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let stranger = app.user("stranger").await;
    alice.befriend(&bob, "bob").await;

    let mut created = Vec::with_capacity(POSTS);
    for i in 0..POSTS {
        let (who, vis) = match i % 3 {
            0 => (&alice, "public"),
            1 => (&bob, "friends"),
            _ => (&bob, "public"),
        };
        created.push(who.new_post(&format!("post number {i}"), vis).await);
        if i % 5 == 0 {
            stranger.new_post("noise", "public").await;
        }
        // Ids are time-ordered to the millisecond: keep creation order
        // unambiguous so that "newest first" has one right answer.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let pages = walk(&alice, 20).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [20, 20, 5],
        "three pages"
    );
    let all: Vec<String> = pages.concat();
    assert_eq!(all, newest_first, "every post once, newest first");

    // A page size that divides the total: the last full page says there
    // is no next page (no empty page at the end).
    let pages = walk(&alice, 15).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [15, 15, 15]);
    assert_eq!(pages.concat(), newest_first);

    // One huge page, and the default page size.
    let (_, page) = alice.get("/api/feed?limit=100").await;
    assert_eq!(ids(&page), newest_first);
    assert_eq!(page["next_cursor"], Value::Null);
    let (_, page) = alice.get("/api/feed").await;
    assert_eq!(ids(&page), newest_first[..20]);
    assert!(page["next_cursor"].is_string());

    // Posts made while paging do not disturb the pages after the cursor.
    let (_, first) = alice.get("/api/feed?limit=20").await;
    let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    alice.new_post("brand new", "public").await;
    let (_, second) = alice
        .get(&format!("/api/feed?limit=20&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), newest_first[20..40]);
}

#[tokio::test]
async fn bad_page_parameters_are_400() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    alice.new_post("one", "public").await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=99999999999",
        "cursor=",
        "cursor=garbage!",
        "cursor=ABC",
        "cursor=zzzzzzzzzzzzzzzzzz",
        "cursor=8zzzzzzzzzzzz",
        "cursor=%00",
        "unknown=1",
    ] {
        for path in ["/api/feed", "/api/friends", "/api/users/alice/posts"] {
            let (status, v) = alice.get(&format!("{path}?{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}: {v}");
            assert_error(&v, "bad_request");
        }
    }
    for query in ["limit=1", "limit=100", "cursor=0", "cursor=7zzzzzzzzzzzz"] {
        let (status, v) = alice.get(&format!("/api/feed?{query}")).await;
        assert_eq!(status, StatusCode::OK, "{query}: {v}");
    }
    let (_, v) = alice.get("/api/feed?cursor=0").await;
    assert_eq!(v["items"], json!([]), "nothing is older than id 0");
}
