//! Writes made on replicas: forwarded to the primary, visible at once on
//! the node that made them, and sessions valid everywhere.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_session_made_on_a_replica_works_on_every_node() {
    let cluster = spawn_cluster(3).await;
    let replica = &cluster.nodes[1];
    let alice = signup(replica, "alice").await;
    for node in &cluster.nodes {
        let (s, v) = alice.get(node, "/api/me").await;
        assert_eq!(s, StatusCode::OK, "on {}: {v}", node.name);
        assert_eq!(v["user"]["username"], "alice", "{v}");
    }
    // Logging out on another replica ends it there at once, and on every
    // node (each had it in memory) once it reads the log of ended sessions.
    let (s, _) = alice
        .call(&cluster.nodes[2], Method::POST, "/api/auth/logout", None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = alice.get(&cluster.nodes[2], "/api/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "on the node that signed out");
    ended_everywhere(&cluster, &alice).await;
}

#[tokio::test]
async fn friends_posts_and_likes_through_replicas_read_their_own_writes() {
    let cluster = spawn_cluster(3).await;
    let (n1, n2) = (&cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n2, "bob").await;
    befriend(&alice, n1, &bob, n2).await;
    let (s, v) = bob.get(n2, "/api/friends").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["items"][0]["user"]["username"], "alice", "{v}");

    for i in 0..5 {
        let (s, post) = alice
            .post(
                n1,
                "/api/posts",
                json!({"body": format!("hello {i}"), "visibility": "friends"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{post}");
        let id = post["post"]["id"].as_str().expect("post id").to_string();
        // Read-your-writes: the node that forwarded the write shows it at
        // once, with no retry.
        let (s, v) = alice.get(n1, &format!("/api/posts/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let (s, v) = bob
            .call(n2, Method::PUT, &format!("/api/posts/{id}/like"), None)
            .await;
        assert!(s.is_success(), "{v}");
        let (s, v) = bob.get(n2, &format!("/api/posts/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["post"]["like_count"], 1, "{v}");
        assert_eq!(v["post"]["liked_by_me"], true, "{v}");
    }
    let (s, feed) = bob.get(n2, "/api/feed").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(feed["items"].as_array().map(Vec::len), Some(5), "{feed}");
    // One copy of each row: nothing was applied twice.
    assert_eq!(cluster.db_count("SELECT COUNT(*) FROM posts").await, 5);
    assert_eq!(cluster.db_count("SELECT COUNT(*) FROM likes").await, 5);
}

#[tokio::test]
async fn health_and_metrics_show_roles_members_and_forwarded_writes() {
    let cluster = spawn_cluster(2).await;
    let (p, r) = (&cluster.nodes[0], &cluster.nodes[1]);
    let hp = p.health().await.expect("primary health");
    let hr = r.health().await.expect("replica health");
    assert_eq!(hp["role"], "primary", "{hp}");
    assert_eq!(hr["role"], "replica", "{hr}");
    assert_eq!(hp["primary"], "node0", "{hp}");
    assert_eq!(hr["primary"], "node0", "{hr}");
    assert_eq!(hr["members"], json!([hp["endpoint_id"]]), "{hr}");
    assert_eq!(hp["members"], json!([hr["endpoint_id"]]), "{hp}");
    // One shared file: no lag.
    assert_eq!(hr["replication_lag"], 0, "{hr}");
    assert_eq!(
        cluster.db_count("SELECT COUNT(*) FROM nodes").await,
        2,
        "both nodes registered"
    );

    signup(r, "carol").await;
    let text = reqwest::get(r.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in:\n{text}"))
    };
    assert!(value("kith_forwarded_writes_total ") >= 1.0, "{text}");
    assert!(
        value("kith_forwarded_write_seconds_count ") >= 1.0,
        "{text}"
    );
    assert!(value("kith_gossip_messages_in_total ") >= 1.0, "{text}");
    assert!(value("kith_gossip_messages_out_total ") >= 1.0, "{text}");
    assert_eq!(value("kith_live_connections "), 0.0);
    assert!(
        text.contains("kith_http_requests_total{route=\"/api/auth/signup\",status=\"201\"} 1"),
        "{text}"
    );
    assert!(text.contains("kith_job_queue_depth 0"), "{text}");
}

/// A forwarded post reaches the primary and is applied, but its answer is
/// lost (the link from the primary back to the replica is cut): the
/// client hears within 5 s that the outcome is unknown, not that the write
/// failed, and its retry under the same key, once the link heals, is
/// answered with that post instead of writing a second one.
#[tokio::test]
async fn a_write_whose_answer_is_lost_is_unknown_and_its_retry_applies_it_once() {
    let cluster = spawn_cluster_with(
        2,
        Options {
            faults: true,
            ..Options::default()
        },
    )
    .await;
    let (primary, replica) = (&cluster.nodes[0], &cluster.nodes[1]);
    let net = cluster.net.as_ref().expect("fault fabric");
    let alice = signup(replica, "alice").await;

    net.set(
        0,
        1,
        crate::faults::Link {
            cut: true,
            ..Default::default()
        },
    );
    let body = json!({"body": "its answer was lost", "visibility": "public"});
    let post = || {
        alice.call_keyed(
            replica,
            Method::POST,
            "/api/posts",
            Some(body.clone()),
            Some("lost-1"),
        )
    };
    let started = std::time::Instant::now();
    let (s, v) = post().await;
    let waited = started.elapsed();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "outcome_unknown", "{v}");
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    let sql = "SELECT COUNT(*) FROM posts WHERE body = 'its answer was lost'";
    assert_eq!(cluster.db_count(sql).await, 1, "the primary applied it");
    // Reads go on meanwhile.
    let (s, _) = alice.get(replica, "/api/feed").await;
    assert_eq!(s, StatusCode::OK);

    net.heal();
    let (s, v) = eventually("the retry is answered", TIMEOUT, || async {
        let (s, v) = post().await;
        (s != StatusCode::SERVICE_UNAVAILABLE).then_some((s, v))
    })
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["post"]["body"], "its answer was lost", "{v}");
    assert_eq!(cluster.db_count(sql).await, 1, "applied once");
    let id = v["post"]["id"].as_str().expect("id");
    let (s, _) = alice.get(primary, &format!("/api/posts/{id}")).await;
    assert_eq!(s, StatusCode::OK, "the answer names the post that was made");
}
