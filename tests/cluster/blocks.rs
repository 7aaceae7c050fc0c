//! Blocking and unfriending reach the two users' live sockets on whichever
//! nodes they are connected to.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::harness::*;

/// Waits on `ws` for `about` going offline.
async fn sees_offline(ws: &mut Ws, about: &str) {
    let got = ws
        .next_matching("presence", TIMEOUT, |v| {
            v["user"] == about && v["status"] == "offline"
        })
        .await;
    assert!(got.is_some(), "no offline presence for {about} in time");
}

#[tokio::test]
async fn blocking_and_unfriending_take_effect_on_sockets_on_every_node() {
    let cluster = spawn_cluster(3).await;
    let (a, b) = (&cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(a, "alice").await;
    let bob = signup(b, "bob").await;
    befriend(&alice, a, &bob, b).await;
    let mut alice_ws = Ws::open(a, &alice).await;
    let mut bob_ws = Ws::open(b, &bob).await;
    let online = alice_ws
        .next_matching("presence", TIMEOUT, |v| {
            v["user"] == "bob" && v["status"] == "online"
        })
        .await;
    assert!(online.is_some(), "alice never saw bob online");

    // Unfriended on bob's node: alice, on another node, hears it at once.
    let (s, v) = bob
        .call(b, Method::DELETE, "/api/friends/alice", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    sees_offline(&mut alice_ws, "bob").await;
    sees_offline(&mut bob_ws, "alice").await;

    // Friends again, then blocked by alice on the primary.
    befriend(&alice, a, &bob, b).await;
    let primary = &cluster.nodes[0];
    let (s, v) = alice
        .call(primary, Method::PUT, "/api/users/bob/block", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    sees_offline(&mut alice_ws, "bob").await;
    sees_offline(&mut bob_ws, "alice").await;
    // And every node reads the block: bob finds no alice anywhere.
    for node in &cluster.nodes {
        eventually(
            &format!("the block is seen on {}", node.name),
            TIMEOUT,
            || async {
                let (s, _) = bob.get(node, "/api/users/alice").await;
                (s == StatusCode::NOT_FOUND).then_some(())
            },
        )
        .await;
    }
}

/// The statuses of media `id`'s three addresses for `user` on `node`.
async fn media_statuses(node: &Node, user: &User, id: &str) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for path in [
        format!("/api/media/{id}"),
        format!("/media/{id}.mp4"),
        format!("/media/{id}.jpg"),
    ] {
        out.push(user.get(node, &path).await.0);
    }
    out
}

#[tokio::test]
async fn a_block_hides_the_blockers_media_through_a_replica() {
    let cluster = spawn_cluster_with(
        2,
        Options {
            workers: vec![1, 0],
            ..Options::default()
        },
    )
    .await;
    let replica = &cluster.nodes[1];
    let alice = signup(replica, "alice").await;
    let bob = signup(replica, "bob").await;
    let path = cluster.dir.path().join("clip.mp4");
    crate::clip::make_clip(&path, 320, 240, 1, false).await;
    let clip = std::fs::read(&path).expect("clip");
    let id = upload_video(replica, &alice, clip).await;
    ready_on(replica, &alice, &id, Duration::from_secs(120)).await;
    let (s, v) = alice
        .post(
            replica,
            "/api/posts",
            serde_json::json!({"body": "a clip", "visibility": "public", "media_id": id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ok = vec![StatusCode::OK; 3];
    assert_eq!(media_statuses(replica, &bob, &id).await, ok);

    // Blocked through the replica (the write is forwarded to the primary
    // and answered once the replica reads it): the media is gone for bob
    // there at once, and still there for its owner.
    let (s, v) = alice
        .call(replica, Method::PUT, "/api/users/bob/block", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let gone = vec![StatusCode::NOT_FOUND; 3];
    assert_eq!(media_statuses(replica, &bob, &id).await, gone);
    assert_eq!(media_statuses(replica, &alice, &id).await, ok);
}
