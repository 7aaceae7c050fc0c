//! The sign-in limits hold across nodes: their counts are in the shared
//! database, taken through the primary's writer.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Node, signup, spawn_cluster, within};

/// A client whose connections come from 127.0.0.`n`.
fn from(n: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .build()
        .expect("client")
}

/// Signs in to `node`; the status and `Retry-After`.
async fn login(c: &reqwest::Client, node: &Node, password: &str) -> (StatusCode, Option<u64>) {
    let res = within(
        "login",
        c.post(node.url("/api/auth/login"))
            .json(&json!({"username": "alice", "password": password}))
            .send(),
    )
    .await
    .expect("login sent");
    let wait = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (res.status(), wait)
}

#[tokio::test]
async fn failed_sign_ins_on_one_node_count_on_the_others() {
    let cluster = spawn_cluster(2).await;
    let (primary, replica) = (&cluster.nodes[0], &cluster.nodes[1]);
    signup(replica, "alice").await;
    let guesser = from(20);
    // Ten wrong guesses, spread over both nodes.
    for i in 0..10 {
        let node = [primary, replica][i % 2];
        let (status, _) = login(&guesser, node, "wrong password").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "guess {i} on {}",
            node.name
        );
    }
    // Refused on either node, even with the right password.
    for node in [replica, primary] {
        let (status, wait) = login(&guesser, node, "password-alice").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "on {}", node.name);
        assert!(
            wait.is_some_and(|w| (1..=900).contains(&w)),
            "Retry-After {wait:?}"
        );
    }
    // The owner, elsewhere, signs in on either node.
    for node in [replica, primary] {
        let (status, _) = login(&from(21), node, "password-alice").await;
        assert_eq!(status, StatusCode::OK, "on {}", node.name);
    }
}
