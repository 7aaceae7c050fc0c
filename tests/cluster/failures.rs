//! Nodes dying, impostors, and the primary going away.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

/// Less than a node's heartbeat timeout (8 s) plus one heartbeat period.
const BEFORE_TTL: Duration = Duration::from_secs(7);
use crate::realtime::is_presence;

/// A clip whose transcode takes long enough (seconds, at idle CPU
/// priority) to be caught running and killed.
async fn node_clip(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("long.mp4");
    crate::clip::make_clip(&path, 640, 360, 12, false).await;
    path
}

#[tokio::test]
async fn a_killed_replica_goes_offline_everywhere_and_its_job_runs_elsewhere() {
    let mut cluster = spawn_cluster_with(
        2,
        Options {
            workers: vec![0, 1, 1],
            job_lease_secs: 3,
            ..Options::default()
        },
    )
    .await;
    let clip = node_clip(cluster.dir.path()).await;
    let (n0, n1) = (&cluster.nodes[0], &cluster.nodes[1]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n0, "bob").await;
    befriend(&alice, n1, &bob, n0).await;
    let mut b = Ws::open(n0, &bob).await;
    let _a = Ws::open(n1, &alice).await;
    b.next_matching("presence", TIMEOUT, is_presence("alice", "online"))
        .await
        .expect("alice online");

    let media = upload_video(n1, &alice, std::fs::read(&clip).expect("clip")).await;
    // node1 is the only node with a worker: wait until it runs the job.
    let owner_port = n1.http.port();
    eventually("node1 runs the transcode", TIMEOUT, || async {
        let n = cluster
            .db_count(&format!(
                "SELECT COUNT(*) FROM jobs WHERE status = 'running' AND lease_owner LIKE '%-{owner_port}-%'"
            ))
            .await;
        (n == 1).then_some(())
    })
    .await;

    let killed = Instant::now();
    cluster.nodes[1].kill().await;
    b.next_matching(
        "presence",
        Duration::from_secs(15),
        is_presence("alice", "offline"),
    )
    .await
    .expect("alice offline within 15 s of her node dying");
    eprintln!("offline after {:?}", killed.elapsed());

    // Another node with a worker takes the job over once the lease runs out.
    let n2 = cluster.add_node("replica", SECRET).await;
    let n2_port = n2.http.port();
    let node2 = &cluster.nodes[2];
    let v = ready_on(node2, &alice, &media, Duration::from_secs(180)).await;
    assert_eq!(v["height"], 360, "{v}");
    let attempts = cluster
        .db_count("SELECT attempts FROM jobs WHERE kind = 'video'")
        .await;
    assert_eq!(attempts, 2, "run once on node1, again on node2");
    let _ = n2_port;
}

#[tokio::test]
async fn a_node_with_the_wrong_secret_can_neither_join_nor_write() {
    let mut cluster = spawn_cluster(2).await;
    let impostor = cluster
        .add_node("replica", "not the secret of this cluster")
        .await;
    let started = Instant::now();
    let res = reqwest::Client::new()
        .post(impostor.url("/api/auth/signup"))
        .json(&json!({"username": "mallory", "password": "password-mallory"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_secs(10));
    // Never sent (no primary would have it): a plain retry is safe, and
    // the code says so, unlike `outcome_unknown`.
    let v: serde_json::Value = res.json().await.expect("error body");
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    let impostor_id = impostor.health().await.expect("health")["endpoint_id"]
        .as_str()
        .expect("id")
        .to_string();
    // Give gossip time to try.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        cluster
            .db_count("SELECT COUNT(*) FROM users WHERE username = 'mallory'")
            .await,
        0
    );
    assert_eq!(
        cluster
            .db_count(&format!(
                "SELECT COUNT(*) FROM nodes WHERE endpoint_id = '{impostor_id}'"
            ))
            .await,
        0,
        "the impostor is not registered"
    );
    for node in &cluster.nodes[..2] {
        let h = node.health().await.expect("health");
        let members = h["members"].as_array().expect("members");
        assert!(
            !members.iter().any(|m| m == impostor_id.as_str()),
            "{} hears from the impostor: {h}",
            node.name
        );
    }
    let h = cluster.nodes[2].health().await.expect("health");
    assert_eq!(h["members"], json!([]), "the impostor hears nobody: {h}");
    assert!(cluster.nodes[0].log().contains("refused"));
}

#[tokio::test]
async fn with_the_primary_down_writes_fail_fast_reads_work_and_writes_recover() {
    let mut cluster = spawn_cluster(2).await;
    let alice = signup(&cluster.nodes[1], "alice").await;
    let bob = signup(&cluster.nodes[1], "bob").await;
    befriend(&alice, &cluster.nodes[1], &bob, &cluster.nodes[1]).await;
    let conv = crate::realtime::conversation(&alice, &cluster.nodes[1], &bob).await;
    let mut ws = Ws::open(&cluster.nodes[1], &alice).await;
    cluster.nodes[0].kill().await;
    let replica = &cluster.nodes[1];
    // A socket send gets an error frame, and the socket stays open. It
    // went down the link the replica still holds to the dead primary:
    // the replica cannot know whether it was applied.
    ws.send(crate::realtime::send_frame(&conv, "m1", "while down"))
        .await;
    let e = ws.next_of("error").await;
    assert_eq!(e["code"], "outcome_unknown", "{e}");

    let started = Instant::now();
    let (s, v) = alice
        .post(
            replica,
            "/api/posts",
            json!({"body": "while down", "visibility": "public"}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    // That link was dropped after its failure: this write could not be
    // sent at all, and says so.
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    assert!(took < Duration::from_secs(8), "took {took:?}");
    eprintln!("503 after {took:?}");
    // Reads keep working.
    let (s, v) = alice.get(replica, "/api/me").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = alice.get(replica, "/api/feed").await;
    assert_eq!(s, StatusCode::OK);

    cluster.nodes[0].restart().await;
    let replica = &cluster.nodes[1];
    eventually("writes work again", TIMEOUT, || async {
        let (s, _) = alice
            .post(
                replica,
                "/api/posts",
                json!({"body": "back", "visibility": "public"}),
            )
            .await;
        (s == StatusCode::CREATED).then_some(())
    })
    .await;
    assert_eq!(cluster.db_count("SELECT COUNT(*) FROM posts").await, 1);
    // The socket's resend goes through now.
    ws.send(crate::realtime::send_frame(&conv, "m1", "while down"))
        .await;
    let ack = ws.next_of("ack").await;
    assert_eq!(ack["seq"], 1, "{ack}");
}

#[tokio::test]
async fn a_node_that_stops_cleanly_takes_its_users_offline_at_once() {
    let mut cluster = spawn_cluster(3).await;
    let (n1, n2) = (&cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n2, "bob").await;
    befriend(&alice, n1, &bob, n2).await;
    let mut b = Ws::open(n2, &bob).await;
    let _a = Ws::open(n1, &alice).await;
    b.next_matching("presence", TIMEOUT, is_presence("alice", "online"))
        .await
        .expect("alice online");
    cluster.nodes[1].stop().await;
    // It said goodbye: no waiting for its heartbeats to time out.
    let offline = b
        .next_matching("presence", BEFORE_TTL, is_presence("alice", "offline"))
        .await;
    assert!(
        offline.is_some(),
        "alice not offline before her node's heartbeats would have timed out; node1's log:\n{}\nnode2's log:\n{}",
        cluster.nodes[1].log(),
        cluster.nodes[2].log()
    );
    // The others still write through the primary.
    let (s, v) = bob
        .post(
            &cluster.nodes[2],
            "/api/posts",
            json!({"body": "still here", "visibility": "public"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}
