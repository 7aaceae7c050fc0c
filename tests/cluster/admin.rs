//! `kith admin user ban`, run on the shared database beside a running
//! cluster, reaches every node: each one's ban watcher closes the user's
//! sockets there, and the sessions the ban ended are refused everywhere.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn a_ban_from_the_command_line_reaches_every_node() {
    let cluster = spawn_cluster(3).await;
    let (primary, a, b) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let on_a = signup(a, "alice").await;
    let (status, on_b) = login(b, "alice").await;
    assert_eq!(status, StatusCode::OK);
    let on_b = on_b.expect("session cookie");
    let bob = signup(b, "bob").await;
    let mut alice_sockets = [
        Ws::open(primary, &on_a).await,
        Ws::open(a, &on_a).await,
        Ws::open(b, &on_b).await,
    ];
    let mut bob_ws = Ws::open(b, &bob).await;

    cluster.admin_cli(&["user", "ban", "alice"]).await;

    for ws in &mut alice_sockets {
        let (code, reason) = ws.closed().await;
        assert_eq!((code, reason.as_str()), (4000, "account banned"));
    }
    for session in [&on_a, &on_b] {
        ended_everywhere(&cluster, session).await;
    }
    for node in &cluster.nodes {
        let (status, user) = login(node, "alice").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "sign-in on {}", node.name);
        assert!(user.is_none(), "a refused sign-in set a session cookie");
    }

    // Bob, on a node that closed alice's socket, is still connected.
    bob_ws.send(json!({"type": "dance"})).await;
    let e = bob_ws.next_of("error").await;
    assert_eq!(e["code"], "bad_frame", "{e}");
    let (status, _) = bob.get(b, "/api/me").await;
    assert_eq!(status, StatusCode::OK);
}
