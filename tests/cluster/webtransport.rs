//! One WebTransport certificate for the whole cluster: every node serves and
//! publishes the same one, and when the primary rotates it, every node
//! follows while the hash published before the rotation keeps working.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use time::OffsetDateTime;

use kith::realtime::cert::{self, CertPair};

use crate::harness::*;
use crate::wt::Wt;

/// What `node` publishes: the WebTransport URL and the certificate hashes.
async fn published(user: &User, node: &Node) -> (String, Vec<String>) {
    let (status, cfg) = user.get(node, "/api/realtime/config").await;
    assert_eq!(status, StatusCode::OK, "{cfg}");
    crate::wt::published(&cfg)
}

/// A WebTransport session of `user` on `node`, trusting only `hashes`,
/// greeted.
async fn open_session(user: &User, node: &Node, hashes: &[String]) -> Wt {
    let (status, v) = user.post(node, "/api/realtime/ticket", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let ticket = v["ticket"].as_str().expect("ticket");
    let (url, _) = published(user, node).await;
    let conn = crate::wt::connect(&url, ticket, hashes, None)
        .await
        .unwrap_or_else(|e| panic!("WebTransport to {} with {hashes:?}: {e}", node.name));
    Wt::over(conn, &user.name).await
}

async fn open_db(cluster: &Cluster, read_only: bool) -> sqlx::SqliteConnection {
    SqliteConnectOptions::new()
        .filename(cluster.db_path())
        .read_only(read_only)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("open the database")
}

async fn stored_pair(cluster: &Cluster) -> CertPair {
    let mut conn = open_db(cluster, true).await;
    let raw: Vec<u8> = within(
        "read the stored certificates",
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(cert::SETTING)
            .fetch_one(&mut conn),
    )
    .await
    .expect("stored certificates");
    serde_json::from_slice(&raw).expect("a certificate pair")
}

/// Writes `pair` into the shared file behind the nodes' backs.
async fn store_pair(cluster: &Cluster, pair: &CertPair) {
    let mut conn = open_db(cluster, false).await;
    let done = within(
        "store certificates",
        sqlx::query("UPDATE settings SET value = ? WHERE key = ?")
            .bind(serde_json::to_vec(pair).expect("json"))
            .bind(cert::SETTING)
            .execute(&mut conn),
    )
    .await
    .expect("update");
    assert_eq!(done.rows_affected(), 1);
}

/// A pair made as if ten and a half days ago: CURRENT has under 3 days
/// left, NEXT is valid now.
fn aged_pair() -> CertPair {
    let then = OffsetDateTime::now_utc() - time::Duration::days(10) - time::Duration::hours(12);
    cert::carry_out(cert::plan(then, None), None)
        .expect("make certificates")
        .expect("a pair")
}

#[tokio::test]
async fn nodes_serve_one_certificate_and_a_rotation_keeps_the_old_next_working() {
    let cluster = spawn_cluster_with(
        2,
        Options {
            webtransport: true,
            ..Options::default()
        },
    )
    .await;
    let (n0, n1) = (&cluster.nodes[0], &cluster.nodes[1]);
    let alice = signup(n0, "alice").await;

    // Both nodes publish the stored pair, current then next.
    let (_, before) = published(&alice, n0).await;
    assert_eq!(before.len(), 2, "{before:?}");
    assert_eq!(published(&alice, n1).await.1, before);
    assert_eq!(
        stored_pair(&cluster).await.hashes().expect("hashes"),
        before
    );

    // The hashes either node published get a client into both.
    for node in [n0, n1] {
        open_session(&alice, node, &before).await.ping().await;
    }
    let mut survivor = open_session(&alice, n1, &before).await;

    // Time passes: CURRENT is within 3 days of expiry. The primary promotes
    // NEXT and makes a new one; both nodes pick that up.
    let aged = aged_pair();
    store_pair(&cluster, &aged).await;
    let old_next = aged.next.hash().expect("hash");
    let aged_current = aged.current.hash().expect("hash");
    let after = eventually(
        "both nodes publish [old next, new next]",
        TIMEOUT,
        || async {
            let (_, a) = published(&alice, n0).await;
            let (_, b) = published(&alice, n1).await;
            let rotated =
                a.len() == 2 && a[0] == old_next && a[1] != aged_current && !before.contains(&a[1]);
            (rotated && a == b).then_some(a)
        },
    )
    .await;
    let stored = stored_pair(&cluster).await;
    assert_eq!(stored.current, aged.next, "NEXT was promoted");
    assert_eq!(stored.hashes().expect("hashes"), after);

    // A client that pinned only the old NEXT gets into both nodes.
    for node in [n0, n1] {
        open_session(&alice, node, std::slice::from_ref(&old_next))
            .await
            .ping()
            .await;
    }
    // And the session opened before the reloads is still up.
    survivor.ping().await;
}
