//! LiteFS's contract, simulated: each node has a mount dir of its own
//! (with `.primary` on replicas and the `-pos` file) over one shared
//! database file; the test plays LiteFS by writing those files.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

fn litefs() -> Options {
    Options {
        litefs: true,
        ..Options::default()
    }
}

#[tokio::test]
async fn a_replica_answers_a_write_only_once_its_copy_reaches_the_primarys_position() {
    let cluster = spawn_cluster_with(2, litefs()).await;
    let (n0, n1) = (&cluster.nodes[0], &cluster.nodes[1]);
    assert_eq!(n0.health().await.expect("health")["role"], "primary");
    assert_eq!(n1.health().await.expect("health")["role"], "replica");
    let alice = signup(n0, "alice").await;
    // The primary's copy is at 40; the replica's lags at 30.
    set_pos(&cluster.mount(0), 40);
    set_pos(&cluster.mount(1), 30);
    let h = eventually("the lag shows", TIMEOUT, || async {
        let h = n1.health().await?;
        (h["replication_lag"] == 10).then_some(h)
    })
    .await;
    assert_eq!(h["replication_lag"], 10, "{h}");

    let write = {
        let alice = alice.clone();
        let url = n1.url("/api/posts");
        let origin = format!("http://{}", n1.http);
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .header("cookie", &alice.cookie)
                .header("origin", origin)
                .json(&json!({"body": "waits for its copy", "visibility": "public"}))
                .send()
                .await
                .map(|r| r.status())
        })
    };
    // Committed on the primary, but not answered while the copy lags.
    eventually("the post is committed", TIMEOUT, || async {
        (cluster.db_count("SELECT COUNT(*) FROM posts").await == 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !write.is_finished(),
        "answered before the replica caught up"
    );
    set_pos(&cluster.mount(1), 40);
    let status = within("the write is answered", write)
        .await
        .expect("join")
        .expect("request");
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn when_litefs_moves_the_lease_the_nodes_swap_roles_and_writes_follow() {
    let cluster = spawn_cluster_with(2, litefs()).await;
    let (n0, n1) = (&cluster.nodes[0], &cluster.nodes[1]);
    let alice = signup(n1, "alice").await;

    // LiteFS hands the lease to node1: node0 now names it as primary,
    // node1's `.primary` goes away.
    std::fs::write(cluster.mount(0).join(".primary"), "node1").expect("write");
    std::fs::remove_file(cluster.mount(1).join(".primary")).expect("remove");
    for (node, role) in [(n0, "replica"), (n1, "primary")] {
        eventually(
            &format!("{} becomes {role}", node.name),
            TIMEOUT,
            || async {
                let h = node.health().await?;
                (h["role"] == role).then_some(())
            },
        )
        .await;
    }
    eventually("node0 names node1 as primary", TIMEOUT, || async {
        let h = n0.health().await?;
        (h["primary"] == "node1").then_some(())
    })
    .await;
    // Writes on either node now go through node1's writer.
    for (i, node) in [n0, n1, n0].into_iter().enumerate() {
        let (s, v) = alice
            .post(
                node,
                "/api/posts",
                json!({"body": format!("after the move {i}"), "visibility": "public"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "on {}: {v}", node.name);
    }
    assert_eq!(cluster.db_count("SELECT COUNT(*) FROM posts").await, 3);
    // No restart was needed.
    assert!(
        !n0.log().contains("kith listening") || n0.log().matches("kith listening").count() == 1
    );
}
