//! One WebTransport certificate for the whole cluster: every node serves and
//! publishes the same one, and when the primary rotates it, every node
//! follows while the hash published before the rotation keeps working.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, BufReader};

use kith::realtime::cert::{self, CertPair};

use crate::harness::*;

/// What `node` publishes: the WebTransport URL and the certificate hashes.
async fn published(user: &User, node: &Node) -> (String, Vec<String>) {
    let (status, cfg) = user.get(node, "/api/realtime/config").await;
    assert_eq!(status, StatusCode::OK, "{cfg}");
    let wt = &cfg["webtransport"];
    let url = wt["url"].as_str().expect("WebTransport url").to_owned();
    let hashes = wt["cert_hashes"]
        .as_array()
        .expect("hashes")
        .iter()
        .map(|h| {
            assert_eq!(h["algorithm"], "sha-256");
            h["value"].as_str().expect("hash value").to_owned()
        })
        .collect();
    (url, hashes)
}

fn digest(b64: &str) -> wtransport::tls::Sha256Digest {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64");
    let arr: [u8; 32] = bytes.try_into().expect("32 bytes");
    wtransport::tls::Sha256Digest::new(arr)
}

/// A WebTransport session: its first bidirectional stream.
struct Session {
    _conn: wtransport::Connection,
    send: wtransport::SendStream,
    recv: BufReader<wtransport::RecvStream>,
}

impl Session {
    /// Connects to `node` as `user`, trusting only `hashes`, and waits for
    /// the hello.
    async fn open(user: &User, node: &Node, hashes: &[String]) -> Session {
        let (status, v) = user.post(node, "/api/realtime/ticket", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let ticket = v["ticket"].as_str().expect("ticket");
        let (url, _) = published(user, node).await;
        let cfg = wtransport::ClientConfig::builder()
            .with_bind_default()
            .with_server_certificate_hashes(hashes.iter().map(|h| digest(h)))
            .build();
        let endpoint = wtransport::Endpoint::client(cfg).expect("client endpoint");
        let opts =
            wtransport::endpoint::ConnectOptions::builder(format!("{url}?ticket={ticket}")).build();
        let conn = within("WebTransport connect", endpoint.connect(opts))
            .await
            .unwrap_or_else(|e| panic!("WebTransport to {} with {hashes:?}: {e}", node.name));
        let (send, recv) = within("open a stream", async {
            conn.open_bi()
                .await
                .expect("open bi")
                .await
                .expect("bi stream")
        })
        .await;
        let mut s = Session {
            _conn: conn,
            send,
            recv: BufReader::new(recv),
        };
        // The server speaks once the stream carries data.
        s.send(json!({"type": "ping"})).await;
        let hello = s.next_of("hello").await;
        assert_eq!(hello["user"], json!(user.name));
        s.next_of("pong").await;
        s
    }

    async fn send(&mut self, v: Value) {
        let line = format!("{v}\n");
        within("wt write", self.send.write_all(line.as_bytes()))
            .await
            .expect("wt write");
    }

    async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let mut line = String::new();
            let n = within("a WebTransport frame", self.recv.read_line(&mut line))
                .await
                .expect("wt read");
            assert!(n > 0, "WebTransport stream ended");
            let v: Value = serde_json::from_str(line.trim_end()).expect("JSON frame");
            if v["type"] == kind {
                return v;
            }
        }
    }

    async fn ping(&mut self) {
        self.send(json!({"type": "ping"})).await;
        self.next_of("pong").await;
    }
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
        Session::open(&alice, node, &before).await.ping().await;
    }
    let mut survivor = Session::open(&alice, n1, &before).await;

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
        Session::open(&alice, node, std::slice::from_ref(&old_next))
            .await
            .ping()
            .await;
    }
    // And the session opened before the reloads is still up.
    survivor.ping().await;
}
