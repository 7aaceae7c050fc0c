//! Live content: watched posts' counts and comments, and the feed's new
//! posts, pushed over the connection a client already has.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Person, TIMEOUT, person, spawn_app};
use crate::ws::Ws;

async fn watch(ws: &mut Ws, posts: &[&str], feed: bool) -> Value {
    ws.send(json!({"type": "watch", "posts": posts, "feed": feed}))
        .await;
    ws.next_of("watching").await
}

async fn like(p: &Person, post: &str) {
    let (s, v) = p.http.put(&format!("/api/posts/{post}/like")).await;
    assert!(s.is_success(), "{v}");
}

#[tokio::test]
async fn watched_counts_and_comments_arrive_live_and_respect_blocks() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let carol = person(&app, "carol").await;
    let eve = person(&app, "eve").await;
    alice.http.befriend(&bob.http, "bob").await;
    alice.http.befriend(&carol.http, "carol").await;
    let post = alice.http.new_post("live one", "friends").await;
    let secret = alice.http.new_post("friends only", "friends").await;

    let mut wb = Ws::open(&app, &bob).await;
    let w = watch(&mut wb, &[&post], false).await;
    assert_eq!(w["posts"], json!([post]));
    // Eve may not see alice's friends-only post: refused, nothing watched.
    let mut we = Ws::open(&app, &eve).await;
    eve.http.get("/api/me").await;
    we.send(json!({"type": "watch", "posts": [secret], "feed": false}))
        .await;
    let w = we.next_of("watching").await;
    assert_eq!(w["posts"], json!([]));
    assert_eq!(we.next_of("error").await["code"], "not_found");
    let many: Vec<String> = (0..51).map(|i| format!("{i}")).collect();
    we.send(json!({"type": "watch", "posts": many})).await;
    assert_eq!(
        we.next_of("error").await["code"],
        "invalid",
        "over the bound"
    );

    like(&carol, &post).await;
    let c = wb.next_of("post_counts").await;
    assert_eq!(
        (c["post_id"].as_str(), c["like_count"].as_i64()),
        (Some(post.as_str()), Some(1)),
        "{c}"
    );

    // Bob blocks carol: her comment is not shown to him, its count is.
    let (s, _) = bob.http.put("/api/users/carol/block").await;
    assert!(s.is_success());
    carol.http.new_comment(&post, "from carol").await;
    alice.http.new_comment(&post, "from alice").await;
    let m = wb.next_of("comment").await;
    assert_eq!(m["comment"]["body"], "from alice", "{m}");
    let c = wb
        .next_matching("post_counts", TIMEOUT, |c| c["comment_count"] == 2)
        .await
        .expect("the count moves");
    assert_eq!(c["like_count"], 1);
}

#[tokio::test]
async fn count_updates_are_coalesced_per_connection_and_end_on_the_latest() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    alice.http.befriend(&bob.http, "bob").await;
    let post = alice.http.new_post("busy", "public").await;
    let mut wb = Ws::open(&app, &bob).await;
    watch(&mut wb, &[&post], false).await;

    let started = tokio::time::Instant::now();
    for _ in 0..20 {
        like(&alice, &post).await;
        let (s, _) = alice.http.delete(&format!("/api/posts/{post}/like")).await;
        assert!(s.is_success());
    }
    like(&alice, &post).await;
    let elapsed = started.elapsed();
    // Everything held back is out one window after the last change.
    let mut frames = Vec::new();
    while let Some(f) = wb
        .next_matching("post_counts", Duration::from_millis(800), |_| true)
        .await
    {
        frames.push(f);
    }
    let allowed = (elapsed.as_millis() / 250) as usize + 2;
    assert!(
        !frames.is_empty() && frames.len() <= allowed,
        "{} count frames for 41 changes in {elapsed:?} (at most {allowed})",
        frames.len()
    );
    assert_eq!(
        frames.last().expect("frames")["like_count"],
        1,
        "the latest count wins"
    );
}

#[tokio::test]
async fn the_feed_hears_of_friends_new_posts() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let eve = person(&app, "eve").await;
    alice.http.befriend(&bob.http, "bob").await;
    let mut wb = Ws::open(&app, &bob).await;
    let mut we = Ws::open(&app, &eve).await;
    watch(&mut wb, &[], true).await;
    watch(&mut we, &[], true).await;
    let post = alice.http.new_post("news", "friends").await;
    let f = wb.next_of("feed_post").await;
    assert_eq!(
        (f["post_id"].as_str(), f["author"].as_str()),
        (Some(post.as_str()), Some("alice"))
    );
    assert!(
        we.next_matching("feed_post", Duration::from_secs(1), |_| true)
            .await
            .is_none(),
        "not a friend: not in her feed"
    );
}
