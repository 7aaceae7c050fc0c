//! The admin console's cluster and overview pages gather every node over
//! the cluster link: opened on a replica, they list both nodes with their
//! roles and live connections; a stopped node is listed unreachable, with
//! its last-known row.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;

/// `kith admin user make-admin NAME` on the shared database.
async fn make_admin(cluster: &Cluster, name: &str) {
    cluster.admin_cli(&["user", "make-admin", name]).await;
}

fn named<'a>(page: &'a Value, name: &str) -> &'a Value {
    page["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("no node {name}: {page}"))
}

#[tokio::test]
async fn every_node_is_listed_and_a_stopped_one_is_unreachable() {
    let mut cluster = spawn_cluster(2).await;
    let (primary, replica) = (&cluster.nodes[0], &cluster.nodes[1]);
    let root = signup(replica, "root").await;
    make_admin(&cluster, "root").await;
    let alice = signup(primary, "alice").await;
    let _ws = Ws::open(primary, &alice).await;

    let page = eventually(
        "the replica lists both nodes, answering",
        TIMEOUT,
        || async {
            let (s, v) = root.get(replica, "/api/admin/cluster").await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let nodes = v["nodes"].as_array()?;
            (nodes.len() == 2 && nodes.iter().all(|n| n["reachable"] == true)).then_some(v)
        },
    )
    .await;
    let (p, r) = (named(&page, "node0"), named(&page, "node1"));
    assert_eq!(p["role"], "primary", "{page}");
    assert_eq!(r["role"], "replica", "{page}");
    assert_eq!(
        (&p["this_node"], &r["this_node"]),
        (&false.into(), &true.into())
    );
    assert_eq!(p["connections"], 1, "{page}");
    assert_eq!(r["connections"], 0, "{page}");
    assert_eq!(p["http_addr"], primary.http.to_string());
    assert_eq!(r["http_addr"], replica.http.to_string());
    for n in [p, r] {
        assert!(n["endpoint_id"].as_str().is_some(), "{n}");
        assert!(n["heartbeat_at"].as_str().is_some(), "{n}");
        assert_eq!(n["series"].as_array().expect("series").len(), 60, "{n}");
    }
    // A shared database file: no lag, once each node has sampled.
    eventually("both nodes report their lag", TIMEOUT, || async {
        let (_, v) = root.get(replica, "/api/admin/cluster").await;
        let lags: Vec<&Value> = v["nodes"]
            .as_array()?
            .iter()
            .map(|n| &n["replication_lag_ms"])
            .collect();
        (lags.len() == 2 && lags.iter().all(|l| **l == 0)).then_some(())
    })
    .await;

    let (s, o) = root.get(replica, "/api/admin/overview").await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_eq!(o["nodes"], 2, "{o}");
    assert_eq!(o["current"]["connections"], 1, "{o}");
    // Both nodes served requests this minute (sign-ups, this page).
    assert!(
        o["current"]["requests"].as_i64().expect("count") >= 3,
        "{o}"
    );

    // Stopped, the replica is listed by the primary with its last row.
    cluster.nodes[1].stop().await;
    let primary = &cluster.nodes[0];
    let page = eventually(
        "the stopped node is unreachable",
        Duration::from_secs(30),
        || async {
            let (s, v) = root.get(primary, "/api/admin/cluster").await;
            assert_eq!(s, StatusCode::OK, "{v}");
            (named(&v, "node1")["reachable"] == false).then_some(v)
        },
    )
    .await;
    let gone = named(&page, "node1");
    assert_eq!(gone["role"], "replica", "{gone}");
    assert_eq!(gone["connections"], Value::Null, "{gone}");
    assert_eq!(gone["replication_lag_ms"], Value::Null, "{gone}");
    assert!(gone["heartbeat_at"].as_str().is_some(), "{gone}");
    assert_eq!(named(&page, "node0")["reachable"], true, "{page}");
    let (s, o) = root.get(primary, "/api/admin/overview").await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_eq!(o["nodes"], 1, "{o}");
}

/// With LiteFS, a replica whose copy has not reached a position the
/// primary announced shows a growing lag in ms, and 0 once it catches up.
#[tokio::test]
async fn a_litefs_replica_behind_the_primary_shows_its_lag() {
    let cluster = spawn_cluster_with(
        2,
        Options {
            litefs: true,
            ..Options::default()
        },
    )
    .await;
    let primary = &cluster.nodes[0];
    let root = signup(primary, "root").await;
    make_admin(&cluster, "root").await;
    let lag_of = |page: &Value| named(page, "node1")["replication_lag_ms"].as_i64();

    set_pos(&cluster.mount(0), 40);
    set_pos(&cluster.mount(1), 30);
    let page = eventually("the replica's lag grows", TIMEOUT, || async {
        let (s, v) = root.get(primary, "/api/admin/cluster").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        (lag_of(&v)? >= 1000).then_some(v)
    })
    .await;
    assert_eq!(named(&page, "node0")["replication_lag_ms"], 0, "{page}");
    assert_eq!(named(&page, "node1")["role"], "replica", "{page}");

    set_pos(&cluster.mount(1), 40);
    eventually("the replica caught up", TIMEOUT, || async {
        let (_, v) = root.get(primary, "/api/admin/cluster").await;
        (lag_of(&v)? == 0).then_some(())
    })
    .await;
}
