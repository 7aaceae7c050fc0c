//! Logout-all ends a user's sessions on every node: their cookies stop
//! working everywhere and their sockets close, wherever they are open.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn logout_all_on_one_node_ends_the_sessions_and_sockets_on_every_node() {
    let cluster = spawn_cluster(3).await;
    let (a, b) = (&cluster.nodes[1], &cluster.nodes[2]);
    let on_a = signup(a, "alice").await;
    let (status, on_b) = login(b, "alice").await;
    assert_eq!(status, StatusCode::OK, "login on {}", b.name);
    let on_b = on_b.expect("session cookie");
    let bob = signup(b, "bob").await;
    let mut alice_ws_b = Ws::open(b, &on_b).await;
    let mut alice_ws_primary = Ws::open(&cluster.nodes[0], &on_a).await;
    let mut bob_ws_b = Ws::open(b, &bob).await;

    let (status, body) = on_a.post(a, "/api/auth/logout-all", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    for ws in [&mut alice_ws_b, &mut alice_ws_primary] {
        let (code, reason) = ws.closed().await;
        assert_eq!(code, 4000, "{reason}");
        assert_eq!(reason, "signed out");
    }
    for session in [&on_a, &on_b] {
        ended_everywhere(&cluster, session).await;
    }
    // Bob, on the same node, is still connected and signed in.
    bob_ws_b.send(json!({"type": "dance"})).await;
    let e = bob_ws_b.next_of("error").await;
    assert_eq!(e["code"], "bad_frame", "{e}");
    let (status, _) = bob.get(b, "/api/me").await;
    assert_eq!(status, StatusCode::OK);
}
