//! Logout-all ends a user's sessions on every node: their cookies stop
//! working everywhere and their sockets close, wherever they are open.

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::harness::*;

/// Signs `name` in on `node`: a second session of an existing user.
async fn login(node: &Node, name: &str) -> User {
    let res = within(
        "login",
        reqwest::Client::new()
            .post(node.url("/api/auth/login"))
            .json(&json!({"username": name, "password": format!("password-{name}")}))
            .send(),
    )
    .await
    .expect("login sent");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "login {name} on {}",
        node.name
    );
    User {
        name: name.into(),
        cookie: crate::session::session_cookie(res.headers()).expect("session cookie"),
    }
}

/// Reads until the server closes the socket; returns the close code and
/// reason.
async fn closed(ws: &mut Ws) -> (u16, String) {
    loop {
        match within("socket close", ws.0.next()).await {
            Some(Ok(Message::Close(Some(c)))) => return (c.code.into(), c.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => return (0, String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return (0, e.to_string()),
        }
    }
}

#[tokio::test]
async fn logout_all_on_one_node_ends_the_sessions_and_sockets_on_every_node() {
    let cluster = spawn_cluster(3).await;
    let (a, b) = (&cluster.nodes[1], &cluster.nodes[2]);
    let on_a = signup(a, "alice").await;
    let on_b = login(b, "alice").await;
    let bob = signup(b, "bob").await;
    let mut alice_ws_b = Ws::open(b, &on_b).await;
    let mut alice_ws_primary = Ws::open(&cluster.nodes[0], &on_a).await;
    let mut bob_ws_b = Ws::open(b, &bob).await;

    let (status, body) = on_a.post(a, "/api/auth/logout-all", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    for ws in [&mut alice_ws_b, &mut alice_ws_primary] {
        let (code, reason) = closed(ws).await;
        assert_eq!(code, 4000, "{reason}");
        assert_eq!(reason, "signed out");
    }
    for node in &cluster.nodes {
        for session in [&on_a, &on_b] {
            eventually(
                &format!("the session is ended on {}", node.name),
                TIMEOUT,
                || async {
                    let (status, _) = session.get(node, "/api/me").await;
                    (status == StatusCode::UNAUTHORIZED).then_some(())
                },
            )
            .await;
        }
    }
    // Bob, on the same node, is still connected and signed in.
    bob_ws_b.send(json!({"type": "dance"})).await;
    let e = bob_ws_b.next_of("error").await;
    assert_eq!(e["code"], "bad_frame", "{e}");
    let (status, _) = bob.get(b, "/api/me").await;
    assert_eq!(status, StatusCode::OK);
}
