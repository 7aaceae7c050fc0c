//! Chat and presence between users connected to different nodes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

pub fn send_frame(conv: &str, cid: &str, body: &str) -> Value {
    json!({"type": "send", "conversation_id": conv, "client_msg_id": cid, "body": body})
}

/// A direct conversation between `a` and `b`, created by `a` on `node`.
pub async fn conversation(a: &User, node: &Node, b: &User) -> String {
    let (s, v) = a
        .post(node, "/api/conversations", json!({"members": [b.name]}))
        .await;
    assert!(s == StatusCode::CREATED || s == StatusCode::OK, "{v}");
    v["id"].as_str().expect("conversation id").to_string()
}

/// Waits until a frame fanned out from `from`'s node reaches `to`: where a
/// user is connected travels between nodes by gossip, so a connection
/// opened a moment ago may not be known yet to the node a frame leaves
/// from. A read receipt at 0 moves nothing and is fanned out to every
/// member's connections, the sender's other devices too, so it is
/// repeated until `to` hears one from `who`.
pub async fn until_routed(from: &mut Ws, to: &mut Ws, conv: &str, who: &str) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        from.send(json!({"type": "read", "conversation_id": conv, "seq": 0}))
            .await;
        let heard = to
            .next_matching("read", Duration::from_millis(300), |f| f["user"] == who)
            .await;
        if heard.is_some() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no read receipt of {who}'s got through in time"
        );
    }
}

pub fn is_presence(user: &str, status: &str) -> impl Fn(&Value) -> bool {
    let (user, status) = (user.to_owned(), status.to_owned());
    move |v| v["user"] == user.as_str() && v["status"] == status.as_str()
}

#[tokio::test]
async fn a_chat_between_nodes_flows_both_ways_over_websockets() {
    let cluster = spawn_cluster(3).await;
    let (n1, n2) = (&cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n2, "bob").await;
    befriend(&alice, n1, &bob, n2).await;
    let conv = conversation(&alice, n1, &bob).await;
    let mut a = Ws::open(n1, &alice).await;
    let mut b = Ws::open(n2, &bob).await;
    // A second device of alice's, on the primary.
    let mut a2 = Ws::open(&cluster.nodes[0], &alice).await;
    until_routed(&mut a, &mut a2, &conv, "alice").await;
    until_routed(&mut a, &mut b, &conv, "alice").await;
    until_routed(&mut b, &mut a, &conv, "bob").await;

    for i in 0..10 {
        a.send(send_frame(
            &conv,
            &format!("a{i}"),
            &format!("from alice {i}"),
        ))
        .await;
        let ack = a.next_of("ack").await;
        let m = b.next_of("message").await;
        assert_eq!(m["body"], format!("from alice {i}"), "{m}");
        assert_eq!(m["sender"], "alice");
        assert_eq!(m["seq"], ack["seq"], "{m} {ack}");
        let seq = ack["seq"].clone();
        a2.next_matching("message", TIMEOUT, |m| m["seq"] == seq)
            .await
            .expect("alice's other device gets her message");

        b.send(send_frame(
            &conv,
            &format!("b{i}"),
            &format!("from bob {i}"),
        ))
        .await;
        b.next_of("ack").await;
        let m = a.next_of("message").await;
        assert_eq!(m["body"], format!("from bob {i}"), "{m}");
    }
    // A resend through another node is still one message.
    a2.send(send_frame(&conv, "a0", "from alice 0")).await;
    let ack = a2.next_of("ack").await;
    assert_eq!(ack["seq"], 1, "{ack}");
    assert_eq!(cluster.db_count("SELECT COUNT(*) FROM messages").await, 20);
    // Typing reaches the other node too.
    b.send(json!({"type": "typing", "conversation_id": conv}))
        .await;
    let t = a.next_of("typing").await;
    assert_eq!(t["user"], "bob");
}

#[tokio::test]
async fn presence_crosses_nodes() {
    let cluster = spawn_cluster(3).await;
    let (n0, n1, n2) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n2, "bob").await;
    befriend(&alice, n1, &bob, n2).await;

    let mut b = Ws::open(n2, &bob).await;
    let a = Ws::open(n1, &alice).await;
    b.next_matching("presence", TIMEOUT, is_presence("alice", "online"))
        .await
        .expect("bob sees alice come online");
    // A new connection of bob's, on a third node, is told alice is online.
    let mut b0 = Ws::open(n0, &bob).await;
    b0.next_matching(
        "presence",
        Duration::from_secs(5),
        is_presence("alice", "online"),
    )
    .await
    .expect("the hello lists alice as online");

    // Alice opens a second connection elsewhere, then closes the first:
    // she stays online.
    let a0 = Ws::open(n0, &alice).await;
    drop(a);
    assert!(
        b.next_matching(
            "presence",
            Duration::from_secs(3),
            is_presence("alice", "offline")
        )
        .await
        .is_none(),
        "alice is still online on node0"
    );
    drop(a0);
    b.next_matching("presence", TIMEOUT, is_presence("alice", "offline"))
        .await
        .expect("bob sees alice go offline");
    b0.next_matching("presence", TIMEOUT, is_presence("alice", "offline"))
        .await
        .expect("bob's other device too");
}

#[tokio::test]
async fn a_lagging_node_catches_up_on_presence_and_keeps_delivering() {
    let cluster = spawn_cluster(3).await;
    let (n0, n1, n2) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let bob = signup(n2, "bob").await;
    let mut friends = Vec::new();
    for i in 0..6 {
        let u = signup(n0, &format!("friend{i}")).await;
        befriend(&u, n0, &bob, n2).await;
        friends.push(u);
    }
    let alice = signup(n1, "alice").await;
    befriend(&alice, n1, &bob, n2).await;
    let conv = conversation(&alice, n1, &bob).await;

    let mut b = Ws::open(n2, &bob).await;
    // Freeze bob's node: it misses every announcement and message sent
    // meanwhile, and its gossip backlog overflows.
    let pid = n2.pid().expect("running");
    signal(pid, "-STOP");
    let mut online = Vec::new();
    for f in &friends {
        online.push(Ws::open(n0, f).await);
    }
    // Some come and go while it is frozen.
    online.truncate(3);
    let mut a = Ws::open(n1, &alice).await;
    for i in 0..25 {
        a.send(send_frame(&conv, &format!("m{i}"), &"x".repeat(2000)))
            .await;
        a.next_of("ack").await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(pid, "-CONT");

    // Bob's node learns who is online without any new announcement.
    let n2c = &cluster.nodes[2];
    let mut c = Ws::open(n2c, &bob).await;
    let want: std::collections::BTreeSet<String> = ["alice", "friend0", "friend1", "friend2"]
        .into_iter()
        .map(String::from)
        .collect();
    let mut now_online = std::collections::BTreeSet::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while now_online != want {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let v = c
            .next_matching("presence", left, |_| true)
            .await
            .unwrap_or_else(|| panic!("presence never settled; last: {now_online:?}"));
        let user = v["user"].as_str().unwrap_or_default().to_string();
        if v["status"] == "online" {
            now_online.insert(user);
        } else {
            now_online.remove(&user);
        }
    }
    // New messages flow to the node that lagged.
    a.send(send_frame(&conv, "after", "after the freeze")).await;
    let m = b
        .next_matching("message", TIMEOUT, |v| v["body"] == "after the freeze")
        .await;
    assert!(m.is_some(), "bob's node delivers again");
    // Anything missed is there for `sync`.
    b.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    let synced = b.next_of("synced").await;
    assert_eq!(synced["last_seq"], 26, "{synced}");
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// How far `user` has read, as a conversation or `synced` frame says.
fn read_of(v: &Value, user: &str) -> Option<i64> {
    v["read"].as_array()?.iter().find(|r| r["user"] == user)?["seq"].as_i64()
}

#[tokio::test]
async fn read_positions_are_the_same_on_every_node() {
    let cluster = spawn_cluster(3).await;
    let (n0, n1, n2) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n2, "bob").await;
    befriend(&alice, n1, &bob, n2).await;
    let conv = conversation(&alice, n1, &bob).await;
    let mut a = Ws::open(n1, &alice).await;
    for i in 1..=2 {
        a.send(send_frame(&conv, &format!("r{i}"), &format!("hello {i}")))
            .await;
        a.next_of("ack").await;
    }
    // Bob reads on his node; alice's connection on another node is told.
    let mut b = Ws::open(n2, &bob).await;
    b.send(json!({"type": "read", "conversation_id": conv, "seq": 2}))
        .await;
    let live = a
        .next_matching("read", TIMEOUT, |f| f["user"] == "bob")
        .await
        .expect("alice is told bob read, across nodes");
    assert_eq!(live["seq"], 2, "{live}");

    // A reload on any node shows it...
    for node in [n0, n1, n2] {
        let (s, page) = alice.get(node, "/api/conversations").await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let listed = page["items"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["id"] == conv.as_str()))
            .unwrap_or_else(|| panic!("conversation not listed: {page}"));
        assert_eq!(read_of(listed, "bob"), Some(2), "{listed}");
        assert_eq!(read_of(listed, "alice"), Some(2), "{listed}");
    }
    // ...and so does a sync from a new device on a third node.
    let mut other = Ws::open(n0, &alice).await;
    other
        .send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    let synced = other.next_of("synced").await;
    assert_eq!(synced["last_seq"], 2, "{synced}");
    assert_eq!(read_of(&synced, "bob"), Some(2), "{synced}");
}

/// The frame for a change to message `seq`.
fn change_frame(kind: &str, conv: &str, cid: &str, seq: i64, extra: Value) -> Value {
    let mut f = json!({"type": kind, "conversation_id": conv, "client_msg_id": cid, "seq": seq});
    for (k, v) in extra.as_object().expect("fields") {
        f[k] = v.clone();
    }
    f
}

#[tokio::test]
async fn chat_events_and_removals_hold_on_every_node() {
    let cluster = spawn_cluster(3).await;
    let (n0, n1, n2) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n2, "bob").await;
    let carol = signup(n0, "carol").await;
    befriend(&alice, n1, &bob, n2).await;
    befriend(&alice, n1, &carol, n0).await;
    let (s, v) = alice
        .post(
            n1,
            "/api/conversations",
            json!({"members": ["bob", "carol"], "title": "Nodes"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let conv = v["id"].as_str().expect("id").to_string();
    let mut a = Ws::open(n1, &alice).await;
    let mut b = Ws::open(n2, &bob).await;
    let mut c = Ws::open(n0, &carol).await;
    until_routed(&mut a, &mut b, &conv, "alice").await;
    until_routed(&mut a, &mut c, &conv, "alice").await;

    a.send(send_frame(&conv, "m1", "first draft")).await;
    let seq = a.next_of("ack").await["seq"].as_i64().expect("seq");
    a.send(change_frame(
        "edit",
        &conv,
        "e1",
        seq,
        json!({"body": "final"}),
    ))
    .await;
    a.next_of("ack").await;
    let e = b
        .next_matching("event", TIMEOUT, |e| e["kind"] == "edit")
        .await
        .expect("the edit crosses to bob's node");
    assert_eq!(e["body"], "final");
    b.send(change_frame(
        "react",
        &conv,
        "r1",
        seq,
        json!({"emoji": "❤️"}),
    ))
    .await;
    b.next_of("ack").await;
    c.next_matching("event", TIMEOUT, |e| e["kind"] == "react")
        .await
        .expect("bob's reaction reaches carol's node");

    // Alice removes carol through her node; then speaks.
    let (s, v) = alice
        .call(
            n1,
            reqwest::Method::DELETE,
            &format!("/api/conversations/{conv}/members/carol"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let removed = c
        .next_matching("event", TIMEOUT, |e| e["kind"] == "member_removed")
        .await
        .expect("carol's node tells her");
    a.send(send_frame(&conv, "m2", "without carol")).await;
    a.next_of("ack").await;
    b.next_matching("message", TIMEOUT, |m| m["body"] == "without carol")
        .await
        .expect("bob still hears");
    assert!(
        c.next_matching("message", Duration::from_secs(2), |_| true)
            .await
            .is_none(),
        "carol's node delivers her nothing more"
    );

    // A new device of bob's on a third node replays the same state; carol's
    // replay on hers stops at her removal.
    let mut b0 = Ws::open(n0, &bob).await;
    b0.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    let first = b0
        .next_matching("message", TIMEOUT, |m| m["seq"] == seq)
        .await
        .expect("the replay");
    assert_eq!(first["body"], "final", "{first}");
    assert_eq!(first["reactions"][0]["users"], json!(["bob"]), "{first}");
    c.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    let synced = c.next_of("synced").await;
    assert_eq!(synced["last_seq"], removed["seq"], "{synced}");
}

#[tokio::test]
async fn a_client_resumes_on_another_node_with_one_token() {
    let cluster = spawn_cluster(3).await;
    let (n1, n2) = (&cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n2, "bob").await;
    befriend(&alice, n1, &bob, n2).await;
    let conv = conversation(&bob, n2, &alice).await;
    let (mut a, status) = Ws::connect(
        n1.http,
        Some(&alice.cookie),
        Some(&format!("http://{}", n1.http)),
    )
    .await
    .expect("handshake");
    assert_eq!(status, 101);
    let token = a.next_of("hello").await["resume_token"]
        .as_str()
        .expect("token")
        .to_string();
    drop(a);

    let mut b = Ws::open(n2, &bob).await;
    b.send(send_frame(&conv, "b1", "while you were out")).await;
    let seq = b.next_of("ack").await["seq"].clone();
    b.send(
        json!({"type": "react", "conversation_id": conv, "client_msg_id": "r1",
        "seq": seq, "emoji": "🎉"}),
    )
    .await;
    b.next_of("ack").await;

    // Alice comes back through the primary, with the token node1 gave her.
    let mut a0 = Ws::open(&cluster.nodes[0], &alice).await;
    a0.send(json!({"type": "resume", "token": token})).await;
    let mut got = Vec::new();
    let done = loop {
        let v = a0.next().await;
        match v["type"].as_str() {
            Some("resumed") => break v,
            Some("message" | "event") => got.push(v),
            Some("error") => panic!("{v}"),
            _ => {}
        }
    };
    assert_eq!(done["full"], false, "{done}");
    assert!(
        got.iter().any(|v| v["body"] == "while you were out"),
        "{got:?}"
    );
    assert!(got.iter().any(|v| v["kind"] == "react"), "{got:?}");
}

#[tokio::test]
async fn live_counts_and_comments_cross_nodes() {
    let cluster = spawn_cluster(3).await;
    let (n1, n2) = (&cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n2, "bob").await;
    befriend(&alice, n1, &bob, n2).await;
    let (s, v) = alice
        .post(
            n1,
            "/api/posts",
            json!({"body": "across", "visibility": "friends"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let post = v["post"]["id"].as_str().expect("id").to_string();
    let mut b = Ws::open(n2, &bob).await;
    b.send(json!({"type": "watch", "posts": [post], "feed": true}))
        .await;
    assert_eq!(b.next_of("watching").await["posts"], json!([post]));

    let (s, v) = alice
        .call(
            n1,
            reqwest::Method::PUT,
            &format!("/api/posts/{post}/like"),
            None,
        )
        .await;
    assert!(s.is_success(), "{v}");
    let c = b.next_of("post_counts").await;
    assert_eq!(c["like_count"], 1, "{c}");
    let (s, v) = alice
        .post(
            n1,
            &format!("/api/posts/{post}/comments"),
            json!({"body": "hi bob"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let m = b.next_of("comment").await;
    assert_eq!(m["comment"]["body"], "hi bob");
    let (s, v) = alice
        .post(
            n1,
            "/api/posts",
            json!({"body": "another", "visibility": "friends"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let f = b.next_of("feed_post").await;
    assert_eq!(f["author"], "alice");
}
