//! Data survives a graceful restart on the same data directory.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ids, spawn_app, spawn_on};

#[tokio::test]
async fn a_restart_keeps_everything() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    alice.befriend(&bob, "bob").await;
    let (status, _) = carol
        .post("/api/friends/requests", json!({"username": "alice"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let public = alice.new_post("before the restart", "public").await;
    let private = alice.new_post("friends only, before", "friends").await;
    let (status, _) = bob.put(&format!("/api/posts/{public}/like")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bob
        .post(
            &format!("/api/posts/{public}/comments"),
            json!({"body": "nice"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let old_addr = app.addr;

    let (dir, data_dir) = app.stop().await;
    // The old server is gone.
    assert!(
        reqwest::Client::new()
            .get(format!("http://{old_addr}/healthz"))
            .timeout(crate::helpers::TIMEOUT)
            .send()
            .await
            .is_err()
    );

    let app = spawn_on(data_dir).await;
    let alice = app.login("alice").await;
    let bob = app.login("bob").await;
    let carol = app.login("carol").await;
    // A wrong password is still wrong.
    let (status, _) = app.client().login("alice", "not her password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Usernames are still taken.
    let (status, _) = app
        .client()
        .post(
            "/api/auth/signup",
            json!({"username": "Alice", "password": "long enough"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (_, p) = bob.get(&format!("/api/posts/{public}")).await;
    assert_eq!(p["post"]["body"], "before the restart");
    assert_eq!(p["post"]["like_count"], 1);
    assert_eq!(p["post"]["liked_by_me"], true);
    assert_eq!(p["post"]["comment_count"], 1);
    let (_, c) = alice.get(&format!("/api/posts/{public}/comments")).await;
    assert_eq!(c["items"][0]["body"], "nice");
    assert_eq!(c["items"][0]["author"]["username"], "bob");

    let (_, feed) = bob.get("/api/feed").await;
    assert_eq!(ids(&feed), [private.as_str(), public.as_str()]);
    let (status, _) = carol.get(&format!("/api/posts/{private}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "still not carol's friend");

    let (status, f) = alice.get("/api/friends/bob").await;
    assert_eq!(status, StatusCode::OK, "{f}");
    let (_, profile) = carol.get("/api/users/alice").await;
    assert_eq!(profile["friend_count"], 1);
    assert_eq!(profile["post_count"], 2);
    assert_eq!(profile["relationship"], "request_sent");
    let (_, reqs) = alice.get("/api/friends/requests").await;
    assert_eq!(reqs["items"][0]["user"]["username"], "carol");

    // Search indexes came back too.
    let (_, found) = carol.get("/api/search?q=restart").await;
    assert_eq!(found["posts"][0]["id"], json!(public));

    // And the restarted server takes writes.
    let (status, _) = carol.put(&format!("/api/posts/{public}/like")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, p) = alice.get(&format!("/api/posts/{public}")).await;
    assert_eq!(p["post"]["like_count"], 2);

    app.stop().await;
    drop(dir);
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let (dir, data_dir) = app.stop().await;
    let app = spawn_on(data_dir).await;
    // The same cookie jar, pointed at the new port.
    let mut alice = alice;
    alice.base = format!("http://{}", app.addr);
    // Cookies are per host, not per port: the jar still sends the session.
    let (status, me) = alice.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "alice");
    app.stop().await;
    drop(dir);
}
