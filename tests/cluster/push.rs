//! Notifications routed by presence across nodes: the event happens on one
//! node while its user is connected to another (the socket shows it, no
//! push), then while they are connected nowhere (a push, from whichever
//! node runs the job), and what stays unread goes into exactly one digest
//! mail though every node looks for due digests. A node killed while its
//! push request is on the wire: the push arrives once, after a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use crate::harness::*;
use crate::push_service::{Browser, PENDING_PUSHES, PushService, until_no_pending};
use crate::realtime::{conversation, is_presence, send_frame};
use crate::smtp::Sink;

fn options(workers: Vec<usize>, sink: Option<&Sink>) -> Options {
    let mut env = vec![
        ("KITH_PUSH_ALLOW_PRIVATE".to_string(), "true".to_string()),
        ("KITH_DIGEST_AFTER_SECS".to_string(), "3".to_string()),
    ];
    if let Some(sink) = sink {
        env.push(("KITH_SMTP_URL".into(), sink.url()));
        env.push(("KITH_MAIL_FROM".into(), "kith <kith@example.org>".into()));
    }
    Options {
        workers,
        job_lease_secs: 2,
        env,
        ..Options::default()
    }
}

/// `user` subscribes on `node` with the push service's subscription,
/// its endpoint pointed at `port` when given (a proxy).
async fn subscribe(node: &Node, user: &User, push: &PushService, port: Option<u16>) -> Browser {
    let (_, key) = user.get(node, "/api/push/key").await;
    let key = key["public_key"].as_str().expect("key").to_string();
    let mut b = push.subscribe(&key).await;
    if let Some(port) = port {
        let endpoint = b.json["endpoint"].as_str().expect("endpoint").replace(
            &format!("localhost:{}", push.port),
            &format!("127.0.0.1:{port}"),
        );
        b.json["endpoint"] = json!(endpoint);
    }
    let (s, v) = user
        .post(node, "/api/push/subscriptions", b.json.clone())
        .await;
    assert_eq!(s, 201, "{v}");
    b
}

/// Marks `user`'s notifications read once the one of a friend accepting
/// (stored in the background) is there.
async fn seen_all(node: &Node, user: &User) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (_, list) = user.get(node, "/api/notifications").await;
        if list["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|n| n["kind"] == "friend_accepted"))
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _) = user.post(node, "/api/notifications/read", json!({})).await;
    assert_eq!(s, 204);
}

async fn until_push_jobs_done(cluster: &Cluster) {
    until_no_pending(|| cluster.db_count(PENDING_PUSHES)).await;
}

async fn comment(node: &Node, user: &User, post: &str, body: &str) {
    let (s, v) = user
        .post(
            node,
            &format!("/api/posts/{post}/comments"),
            json!({"body": body}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test]
async fn a_notification_goes_by_socket_or_push_by_where_its_user_is_connected() {
    let push = PushService::start().await;
    let sink = Sink::start();
    let cluster = spawn_cluster_with(2, options(vec![1, 1], Some(&sink))).await;
    let (n0, n1) = (&cluster.nodes[0], &cluster.nodes[1]);
    let alice = signup(n1, "alice").await;
    let bob = signup(n0, "bob").await;
    befriend(&alice, n1, &bob, n0).await;
    {
        let db = rusqlite::Connection::open(cluster.db_path()).expect("open");
        db.busy_timeout(Duration::from_secs(10)).expect("timeout");
        db.execute(
            "UPDATE users SET email = 'alice@example.org' WHERE username = 'alice'",
            [],
        )
        .expect("alice's verified address");
    }
    seen_all(n1, &alice).await;
    // One key for the whole cluster.
    let (_, k0) = bob.get(n0, "/api/push/key").await;
    let (_, k1) = bob.get(n1, "/api/push/key").await;
    assert_eq!(k0, k1);
    let browser = subscribe(n1, &alice, &push, None).await;
    let (s, post) = alice
        .post(
            n1,
            "/api/posts",
            json!({"body": "picnic", "visibility": "friends"}),
        )
        .await;
    assert_eq!(s, 201, "{post}");
    let post = post["post"]["id"].as_str().expect("id").to_string();

    // Connected to node 1, the comment made on node 0: the socket.
    let mut a = Ws::open(n1, &alice).await;
    let mut b = Ws::open(n0, &bob).await;
    b.wait_for(is_presence("alice", "online")).await;
    comment(n0, &bob, &post, "count me in").await;
    let n = a.next_of("notification").await;
    assert_eq!(n["kind"], "comment", "{n}");
    until_push_jobs_done(&cluster).await;
    assert!(
        push.received(&browser).await.is_empty(),
        "no push while connected"
    );

    // Connected nowhere: a push.
    drop(a);
    b.wait_for(is_presence("alice", "offline")).await;
    comment(n0, &bob, &post, "bringing cake").await;
    let got = push.until_received(&browser, 1).await;
    assert_eq!(got[0]["kind"], "comment", "{:?}", got);
    assert_eq!(got[0]["body"], "“bringing cake”");

    // A message while away: pushed after the chat delay, and with the
    // comments, unread, one digest (messages are mailed by default,
    // comments not), though both nodes look for due digests.
    let conv = conversation(&bob, n0, &alice).await;
    b.send(send_frame(&conv, "m1", "dinner tonight?")).await;
    b.next_of("ack").await;
    let got = push.until_received(&browser, 2).await;
    assert_eq!(got[1]["kind"], "message");
    assert_eq!(got[1]["url"], format!("/#/chat/{conv}"));
    let mails = sink.until_received(1, TIMEOUT).await;
    let body = mails[0].body();
    assert!(body.contains("bob sent you a message"), "{body}");
    assert!(!body.contains("commented"), "{body}");
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(sink.received().len(), 1, "exactly one digest");
    assert_eq!(push.received(&browser).await.len(), 2, "no push twice");
}

/// A TCP proxy in front of the push service that holds the first
/// connection (reads and never answers, as a request in flight when its
/// sender dies) and passes every later one through.
async fn holding_proxy(target: u16) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held = Arc::new(AtomicUsize::new(0));
    let h = held.clone();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut s, _)) = listener.accept().await {
            if std::mem::take(&mut first) {
                h.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                });
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut up) = TcpStream::connect(("127.0.0.1", target)).await {
                    let _ = tokio::io::copy_bidirectional(&mut s, &mut up).await;
                }
            });
        }
    });
    (port, held)
}

#[tokio::test]
async fn a_node_killed_mid_push_delivers_it_once_after_a_restart() {
    let push = PushService::start().await;
    let (proxy, held) = holding_proxy(push.port).await;
    // Only node 1 runs jobs.
    let mut cluster = spawn_cluster_with(2, options(vec![0, 1], None)).await;
    let n0 = &cluster.nodes[0];
    let alice = signup(n0, "alice").await;
    let bob = signup(n0, "bob").await;
    befriend(&alice, n0, &bob, n0).await;
    let browser = subscribe(n0, &alice, &push, Some(proxy)).await;
    let (_, post) = alice
        .post(
            n0,
            "/api/posts",
            json!({"body": "hi", "visibility": "public"}),
        )
        .await;
    let post = post["post"]["id"].as_str().expect("id").to_string();
    comment(n0, &bob, &post, "hello").await;

    // Node 1's request is on the wire, unanswered: kill node 1.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while held.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no push request came"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.nodes[1].kill().await;
    assert!(push.received(&browser).await.is_empty());
    cluster.nodes[1].restart().await;

    // Its lease runs out, node 1 takes the job again, and the push comes.
    let got = push.until_received(&browser, 1).await;
    assert_eq!(got[0]["kind"], "comment", "{got:?}");
    until_push_jobs_done(&cluster).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got: Vec<Value> = push.received(&browser).await;
    assert_eq!(got.len(), 1, "delivered once: {got:?}");
}
