//! Accounts and the console across nodes: a session revoked on one node
//! stops working on every node that had it in memory, and closes its socket
//! on another; a new password signs the other devices out everywhere; the admin console works on a replica, its changes and
//! audit entries forwarded to the primary.

use std::time::Instant;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_session_revoked_on_one_node_closes_its_socket_on_another() {
    let cluster = spawn_cluster(3).await;
    let (a, b) = (&cluster.nodes[1], &cluster.nodes[2]);
    let on_a = signup(a, "alice").await;
    let (status, on_b) = login(b, "alice").await;
    assert_eq!(status, StatusCode::OK);
    let on_b = on_b.expect("session cookie");
    let mut ws_b = Ws::open(b, &on_b).await;
    let mut ws_primary = Ws::open(&cluster.nodes[0], &on_a).await;

    let (_, v) = on_b.get(b, "/api/me/sessions").await;
    let b_session = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .expect("current")
        .to_owned();
    // Every node has now read the session and keeps it in memory.
    signed_in_everywhere(&cluster, &on_b).await;
    let started = Instant::now();
    let (s, v) = on_a
        .call(
            a,
            Method::DELETE,
            &format!("/api/me/sessions/{b_session}"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (code, reason) = ws_b.closed().await;
    assert_eq!((code, reason.as_str()), (4000, "signed out"));
    // The figure for the operator's docs; the bound is the harness's.
    println!(
        "revoked on {} -> socket closed on {} in {:?}",
        a.name,
        b.name,
        started.elapsed()
    );
    ended_everywhere(&cluster, &on_b).await;
    println!(
        "revoked on {} -> refused on every node in {:?}",
        a.name,
        started.elapsed()
    );
    // The revoking session and its socket are untouched.
    let (s, _) = on_a.get(a, "/api/me").await;
    assert_eq!(s, StatusCode::OK);
    ws_primary.send(json!({"type": "dance"})).await;
    assert_eq!(ws_primary.next_of("error").await["code"], "bad_frame");
}

#[tokio::test]
async fn a_new_password_on_a_replica_signs_the_other_devices_out_everywhere() {
    let cluster = spawn_cluster(3).await;
    let (primary, a, b) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let on_a = signup(a, "alice").await;
    let (_, on_b) = login(b, "alice").await;
    let on_b = on_b.expect("session cookie");
    let (_, on_primary) = login(primary, "alice").await;
    let on_primary = on_primary.expect("session cookie");
    let mut sockets = [
        Ws::open(b, &on_b).await,
        Ws::open(primary, &on_primary).await,
    ];
    for session in [&on_b, &on_primary] {
        signed_in_everywhere(&cluster, session).await;
    }

    let (s, v) = on_a
        .post(
            a,
            "/api/me/password",
            json!({"current_password": "password-alice", "new_password": "a-better-password"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    for ws in &mut sockets {
        let (code, reason) = ws.closed().await;
        assert_eq!((code, reason.as_str()), (4000, "signed out"));
    }
    for session in [&on_b, &on_primary] {
        ended_everywhere(&cluster, session).await;
    }
    for node in &cluster.nodes {
        let (status, _) = login(node, "alice").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "the old password on {}",
            node.name
        );
    }
}

#[tokio::test]
async fn the_console_works_on_a_replica_and_its_actions_are_audited() {
    let cluster = spawn_cluster(2).await;
    let (primary, replica) = (&cluster.nodes[0], &cluster.nodes[1]);
    let root = signup(replica, "root").await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kith"))
        .args(["admin", "user", "make-admin", "root", "--db"])
        .arg(cluster.db_path())
        .env_remove("KITH_DB")
        .kill_on_drop(true)
        .output();
    let out = within("kith admin user make-admin", out)
        .await
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alice = signup(primary, "alice").await;
    let bob = signup(replica, "bob").await;
    let mut alice_ws = Ws::open(primary, &alice).await;
    let (s, v) = alice
        .post(
            primary,
            "/api/posts",
            json!({"body": "spam spam", "visibility": "public"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let post = v["post"]["id"].as_str().expect("id").to_owned();
    let (s, v) = bob
        .post(
            replica,
            "/api/reports",
            json!({"kind": "post", "id": post, "reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let report = v["report"]["id"].as_str().expect("id").to_owned();

    // The admin resolves it on the replica: forwarded, audited, and the
    // author's socket on the primary closes.
    let (s, v) = root
        .post(
            replica,
            &format!("/api/admin/reports/{report}/resolve"),
            json!({"action": "ban"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (code, reason) = alice_ws.closed().await;
    assert_eq!((code, reason.as_str()), (4000, "account banned"));
    // Read-your-writes on the replica: the log has the entry at once.
    let (_, log) = root.get(replica, "/api/admin/audit").await;
    assert_eq!(log["items"][0]["action"], "report.resolve", "{log}");
    assert_eq!(
        cluster
            .db_count("SELECT count(*) FROM audit_log WHERE action = 'report.resolve'")
            .await,
        1
    );
    // A non-admin is refused on every node.
    for node in &cluster.nodes {
        let (s, _) = bob.get(node, "/api/admin/users").await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{}", node.name);
    }
}
