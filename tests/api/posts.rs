//! Posts, likes and comments: validation, who sees what, who may delete
//! what, idempotent likes, counters, and concurrent likes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{Client, assert_error, ids, spawn_app, within};

async fn get_post(c: &Client, id: &str) -> (StatusCode, Value) {
    c.get(&format!("/api/posts/{id}")).await
}

async fn post_view(c: &Client, id: &str) -> Value {
    let (status, v) = get_post(c, id).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["post"].clone()
}

async fn comment(c: &Client, post: &str, body: &str) -> (StatusCode, Value) {
    c.post(
        &format!("/api/posts/{post}/comments"),
        json!({"body": body}),
    )
    .await
}

async fn comment_id(c: &Client, post: &str, body: &str) -> String {
    let (status, v) = comment(c, post, body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["comment"]["id"].as_str().expect("comment id").to_string()
}

#[tokio::test]
async fn creating_a_post() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let (status, v) = alice.post("/api/posts", json!({"body": "hello"})).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let p = &v["post"];
    assert!(p["id"].is_string());
    assert_eq!(p["body"], "hello");
    assert_eq!(p["visibility"], "public", "public by default");
    assert_eq!(p["author"]["username"], "alice");
    assert_eq!(p["like_count"], 0);
    assert_eq!(p["comment_count"], 0);
    assert_eq!(p["liked_by_me"], false);
    assert!(p["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));

    let (status, v) = alice
        .post(
            "/api/posts",
            json!({"body": "for friends", "visibility": "friends"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["post"]["visibility"], "friends");

    // The stored post reads back the same.
    let id = v["post"]["id"].as_str().expect("id");
    assert_eq!(post_view(&alice, id).await, v["post"]);

    let (status, _) = app
        .client()
        .post("/api/posts", json!({"body": "anonymous"}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn post_bodies_are_checked_in_characters() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let rejected = [
        json!({"body": ""}),
        json!({"body": "   "}),
        json!({"body": "\n\t \r\n"}),
        json!({"body": "x".repeat(10_001)}),
        json!({"body": "é".repeat(10_001)}),
        json!({"body": "😀".repeat(10_001)}),
        json!({"body": "ok", "visibility": "secret"}),
        json!({"body": "ok", "visibility": "Public"}),
    ];
    for body in rejected {
        let (status, v) = alice.post("/api/posts", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}: {v}",
            body.to_string().chars().take(40).collect::<String>()
        );
        assert_error(&v, "invalid");
    }
    let (_, me) = alice.get("/api/users/alice").await;
    assert_eq!(me["post_count"], 0, "nothing was stored");

    // Exactly 10,000 characters is fine, however many bytes they take.
    for body in ["x".repeat(10_000), "é".repeat(10_000), "😀".repeat(10_000)] {
        let (status, v) = alice.post("/api/posts", json!({"body": body})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(v["post"]["body"], json!(body), "stored verbatim");
    }
    // Leading and trailing space is kept as written.
    let (status, v) = alice.post("/api/posts", json!({"body": "  hi  "})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(v["post"]["body"], "  hi  ");
}

#[tokio::test]
async fn who_sees_a_post() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let friend = app.user("friend").await;
    let stranger = app.user("stranger").await;
    alice.befriend(&friend, "friend").await;

    let public = alice.new_post("public words", "public").await;
    let private = alice.new_post("friends words", "friends").await;

    for c in [&alice, &friend, &stranger] {
        assert_eq!(post_view(c, &public).await["body"], "public words");
    }
    assert_eq!(post_view(&alice, &private).await["body"], "friends words");
    assert_eq!(post_view(&friend, &private).await["body"], "friends words");
    let (status, v) = get_post(&stranger, &private).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");
    // Indistinguishable from a post that never existed.
    let (_, never) = get_post(&stranger, "1zzzzzzzzzzzz").await;
    assert_eq!(v, never);

    // Signed out, nothing is visible.
    let (status, _) = get_post(&app.client(), &public).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A profile's posts: newest first, filtered the same way.
    let (status, v) = friend.get("/api/users/alice/posts").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), [private.as_str(), public.as_str()]);
    let (_, v) = stranger.get("/api/users/alice/posts").await;
    assert_eq!(ids(&v), [public.as_str()]);
    let (_, v) = alice.get("/api/users/ALICE/posts").await;
    assert_eq!(ids(&v), [private.as_str(), public.as_str()]);
    let (_, v) = alice.get("/api/users/alice/posts?limit=1").await;
    assert_eq!(ids(&v), [private.as_str()]);
    let cursor = v["next_cursor"].as_str().expect("next page").to_string();
    let (_, v) = alice
        .get(&format!("/api/users/alice/posts?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(ids(&v), [public.as_str()]);
    assert_eq!(v["next_cursor"], Value::Null);
    let (status, v) = alice.get("/api/users/nobody/posts").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&v, "not_found");

    // Unfriending takes the friends-only post away.
    let (status, _) = friend.delete("/api/friends/alice").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = get_post(&friend, &private).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_the_author_deletes_a_post() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let friend = app.user("friend").await;
    let stranger = app.user("stranger").await;
    alice.befriend(&friend, "friend").await;
    let public = alice.new_post("public", "public").await;
    let private = alice.new_post("private", "friends").await;

    // Visible but not theirs: 403.
    for (c, id) in [
        (&friend, &public),
        (&friend, &private),
        (&stranger, &public),
    ] {
        let (status, v) = c.delete(&format!("/api/posts/{id}")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
        assert_error(&v, "forbidden");
    }
    // Not even visible: 404.
    let (status, v) = stranger.delete(&format!("/api/posts/{private}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");
    assert_eq!(post_view(&alice, &private).await["body"], "private");

    let (status, v) = alice.delete(&format!("/api/posts/{private}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, _) = get_post(&alice, &private).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = alice.delete(&format!("/api/posts/{private}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice");
    let (_, me) = alice.get("/api/users/alice").await;
    assert_eq!(me["post_count"], 1);
}

#[tokio::test]
async fn likes_are_idempotent_and_counted() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let stranger = app.user("stranger").await;
    alice.befriend(&bob, "bob").await;
    let id = alice.new_post("like me", "friends").await;
    let like = format!("/api/posts/{id}/like");

    let (status, v) = bob.put(&like).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"liked": true, "like_count": 1}));
    let (status, v) = bob.put(&like).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v, json!({"liked": true, "like_count": 1}), "idempotent");

    let p = post_view(&bob, &id).await;
    assert_eq!(p["like_count"], 1);
    assert_eq!(p["liked_by_me"], true);
    let p = post_view(&alice, &id).await;
    assert_eq!(p["like_count"], 1);
    assert_eq!(p["liked_by_me"], false);

    let (_, v) = alice.put(&like).await;
    assert_eq!(v, json!({"liked": true, "like_count": 2}), "own posts too");

    let (status, v) = bob.delete(&like).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"liked": false, "like_count": 1}));
    let (status, v) = bob.delete(&like).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v, json!({"liked": false, "like_count": 1}), "idempotent");
    assert_eq!(post_view(&bob, &id).await["liked_by_me"], false);
    assert_eq!(post_view(&alice, &id).await["liked_by_me"], true);

    // Not visible: 404 both ways, and nothing changes.
    for res in [stranger.put(&like).await, stranger.delete(&like).await] {
        assert_eq!(res.0, StatusCode::NOT_FOUND, "{}", res.1);
        assert_error(&res.1, "not_found");
    }
    assert_eq!(post_view(&alice, &id).await["like_count"], 1);
    for path in ["/api/posts/1zzzzzzzzzzzz/like", "/api/posts/zz!/like"] {
        let (status, _) = bob.put(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = app.client().put(&like).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_likes_are_all_counted() {
    const USERS: usize = 20;
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let id = alice.new_post("popular", "public").await;

    let mut signups = JoinSet::new();
    for i in 0..USERS {
        let c = app.client();
        let name = format!("fan{i}");
        signups.spawn(async move {
            let (status, v) = c
                .post(
                    "/api/auth/signup",
                    json!({"username": name, "password": "long enough"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            c
        });
    }
    let fans: Vec<Client> = within(signups.join_all()).await;
    assert_eq!(fans.len(), USERS);

    // Every fan likes twice, all at once.
    let mut likes = JoinSet::new();
    for fan in fans.iter().chain(fans.iter()) {
        let fan = fan.clone();
        let path = format!("/api/posts/{id}/like");
        likes.spawn(async move {
            let (status, v) = fan.put(&path).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            assert_eq!(v["liked"], true);
            v["like_count"].as_i64().expect("count")
        });
    }
    let counts = within(likes.join_all()).await;
    assert!(
        counts.iter().all(|&n| (1..=USERS as i64).contains(&n)),
        "{counts:?}"
    );
    assert!(counts.contains(&(USERS as i64)), "{counts:?}");

    let p = post_view(&alice, &id).await;
    assert_eq!(p["like_count"], USERS);
    assert_eq!(
        app.db_count("SELECT COUNT(*) FROM likes").await,
        USERS as i64
    );

    // And all unlike at once.
    let mut unlikes = JoinSet::new();
    for fan in &fans {
        let fan = fan.clone();
        let path = format!("/api/posts/{id}/like");
        unlikes.spawn(async move {
            let (status, v) = fan.delete(&path).await;
            assert_eq!(status, StatusCode::OK, "{v}");
        });
    }
    within(unlikes.join_all()).await;
    assert_eq!(post_view(&alice, &id).await["like_count"], 0);
}

#[tokio::test]
async fn comments_are_listed_oldest_first_and_counted() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let id = alice.new_post("discuss", "public").await;

    let mut made = Vec::new();
    for i in 0..5 {
        let who = if i % 2 == 0 { &bob } else { &alice };
        let (status, v) = comment(who, &id, &format!("comment {i}")).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let c = &v["comment"];
        assert_eq!(c["post_id"], json!(id));
        assert_eq!(c["body"], format!("comment {i}"));
        assert!(c["author"]["username"].is_string());
        assert!(c["created_at"].is_string());
        made.push(c["id"].as_str().expect("id").to_string());
        // Ids are time-ordered to the millisecond: keep creation order
        // unambiguous.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(post_view(&bob, &id).await["comment_count"], 5);

    let (status, v) = bob.get(&format!("/api/posts/{id}/comments")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(ids(&v), made, "oldest first");
    assert_eq!(v["items"][0]["author"]["username"], "bob");
    assert_eq!(v["items"][1]["author"]["username"], "alice");
    assert_eq!(v["next_cursor"], Value::Null);

    // Pages of two.
    let mut seen = Vec::new();
    let mut path = format!("/api/posts/{id}/comments?limit=2");
    loop {
        let (status, page) = bob.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = ids(&page);
        assert!(got.len() <= 2);
        seen.extend(got);
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/posts/{id}/comments?limit=2&cursor={c}"),
            None => break,
        }
        assert!(seen.len() <= made.len(), "does not end");
    }
    assert_eq!(seen, made);

    for bad in ["", "   ", &"x".repeat(2001)] {
        let (status, v) = comment(&bob, &id, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_error(&v, "invalid");
    }
    let (status, _) = comment(&bob, &id, &"é".repeat(2000)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(post_view(&bob, &id).await["comment_count"], 6);

    let (status, v) = comment(&bob, "1zzzzzzzzzzzz", "hello?").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, _) = bob.get("/api/posts/1zzzzzzzzzzzz/comments").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.client().get(&format!("/api/posts/{id}/comments")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn comments_on_friends_only_posts_follow_visibility() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let friend = app.user("friend").await;
    let stranger = app.user("stranger").await;
    alice.befriend(&friend, "friend").await;
    let id = alice.new_post("friends only", "friends").await;

    comment_id(&friend, &id, "I can see this").await;
    let (status, v) = comment(&stranger, &id, "can I?").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");
    let (status, _) = stranger.get(&format!("/api/posts/{id}/comments")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, v) = friend.get(&format!("/api/posts/{id}/comments")).await;
    assert_eq!(v["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(post_view(&alice, &id).await["comment_count"], 1);
}

#[tokio::test]
async fn who_deletes_a_comment() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let public = alice.new_post("public", "public").await;

    let by_bob = comment_id(&bob, &public, "bob's").await;
    let by_bob_2 = comment_id(&bob, &public, "bob's again").await;
    let by_carol = comment_id(&carol, &public, "carol's").await;
    assert_eq!(post_view(&alice, &public).await["comment_count"], 3);

    // A third user (not the comment's author, not the post's): 403.
    let (status, v) = carol.delete(&format!("/api/comments/{by_bob}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_error(&v, "forbidden");
    let (status, _) = bob.delete(&format!("/api/comments/{by_carol}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The comment's author.
    let (status, v) = bob.delete(&format!("/api/comments/{by_bob}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    // The post's author.
    let (status, v) = alice.delete(&format!("/api/comments/{by_carol}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");

    let (_, v) = alice.get(&format!("/api/posts/{public}/comments")).await;
    assert_eq!(ids(&v), [by_bob_2.as_str()]);
    assert_eq!(post_view(&alice, &public).await["comment_count"], 1);

    let (status, v) = bob.delete(&format!("/api/comments/{by_bob}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");
    let (status, _) = bob.delete("/api/comments/1zzzzzzzzzzzz").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // On a post the user cannot see: 404, not 403.
    alice.befriend(&bob, "bob").await;
    let private = alice.new_post("private", "friends").await;
    let on_private = comment_id(&bob, &private, "secret reply").await;
    let (status, v) = carol.delete(&format!("/api/comments/{on_private}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, _) = app
        .client()
        .delete(&format!("/api/comments/{on_private}"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(post_view(&alice, &private).await["comment_count"], 1);
}

#[tokio::test]
async fn deleting_a_post_removes_its_likes_and_comments() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let keep = alice.new_post("keep", "public").await;
    let doomed = alice.new_post("doomed", "public").await;
    for id in [&keep, &doomed] {
        let (status, _) = bob.put(&format!("/api/posts/{id}/like")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = alice.put(&format!("/api/posts/{id}/like")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let c1 = comment_id(&bob, &doomed, "one").await;
    comment_id(&alice, &doomed, "two").await;
    comment_id(&bob, &keep, "kept").await;
    assert_eq!(app.db_count("SELECT COUNT(*) FROM likes").await, 4);
    assert_eq!(app.db_count("SELECT COUNT(*) FROM comments").await, 3);

    let (status, v) = alice.delete(&format!("/api/posts/{doomed}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");

    let (status, _) = get_post(&bob, &doomed).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob.get(&format!("/api/posts/{doomed}/comments")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob.put(&format!("/api/posts/{doomed}/like")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob.delete(&format!("/api/comments/{c1}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = comment(&bob, &doomed, "late").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    assert_eq!(app.db_count("SELECT COUNT(*) FROM likes").await, 2);
    assert_eq!(app.db_count("SELECT COUNT(*) FROM comments").await, 1);
    assert_eq!(
        app.db_count("SELECT COUNT(*) FROM posts_fts WHERE posts_fts MATCH 'doomed'")
            .await,
        0
    );
    let p = post_view(&bob, &keep).await;
    assert_eq!(p["like_count"], 2);
    assert_eq!(p["comment_count"], 1);
    let (_, feed) = alice.get("/api/feed").await;
    assert_eq!(ids(&feed), [keep.as_str()]);
}

/// A tiny real clip, uploaded by `c`; returns the media id.
async fn upload_clip(c: &Client) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = dir.path().join("c.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=160x120:rate=10:duration=1")
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status()
        .expect("ffmpeg (scripts/test.sh installs it)");
    assert!(ok.success());
    let bytes = std::fs::read(&clip).expect("clip");
    let (status, v) = c.upload("/api/media", "c.mp4", "video/mp4", &bytes).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    v["id"].as_str().expect("media id").to_string()
}

#[tokio::test]
async fn a_post_carries_its_authors_video_and_shares_its_visibility() {
    let app = crate::helpers::spawn_with(|c| c.workers = 0).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    alice.befriend(&bob, "bob").await;
    let media = upload_clip(&alice).await;
    // Unattached: only its owner sees it.
    assert_eq!(
        alice.get(&format!("/api/media/{media}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        bob.get(&format!("/api/media/{media}")).await.0,
        StatusCode::NOT_FOUND
    );
    // Nobody else may attach it.
    let (status, v) = carol
        .post("/api/posts", json!({"body": "mine now", "media_id": media}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    // On a friends-only post: the author's friends see it, strangers do not.
    let (status, v) = alice
        .post(
            "/api/posts",
            json!({"body": "my video", "visibility": "friends", "media_id": media}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["post"]["media_id"], json!(media));
    assert_eq!(
        bob.get(&format!("/api/media/{media}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        carol.get(&format!("/api/media/{media}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, feed) = bob.get("/api/feed").await;
    assert_eq!(feed["items"][0]["media_id"], json!(media));
    // On a public post: everyone signed in.
    alice
        .post(
            "/api/posts",
            json!({"body": "again, for all", "visibility": "public", "media_id": media}),
        )
        .await;
    assert_eq!(
        carol.get(&format!("/api/media/{media}")).await.0,
        StatusCode::OK
    );
}
