//! Realtime over real clients: tokio-tungstenite for WebSocket, wtransport's
//! client for WebTransport.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::helpers::{
    Person, TIMEOUT, TestApp, direct, person, spawn_app, ticket, ws_request, wt_connect,
};
use crate::ws::Ws;

/// Two friends and a direct conversation between them.
pub async fn pair(app: &TestApp) -> (Person, Person, String) {
    let a = person(app, "alice").await;
    let b = person(app, "bob").await;
    a.http.befriend(&b.http, "bob").await;
    let conv = direct(&a.http, "bob").await;
    (a, b, conv)
}

fn send_frame(conv: &str, cid: &str, body: &str) -> Value {
    json!({"type": "send", "conversation_id": conv, "client_msg_id": cid, "body": body})
}

// ---- WebTransport client -------------------------------------------------

use crate::wt::Wt;

/// A WebTransport session of `p`'s, greeted.
async fn open_wt(p: &Person) -> Wt {
    let t = ticket(p).await;
    let conn = wt_connect(p, &t, None).await.expect("WebTransport session");
    Wt::over(conn, &p.name).await
}

// ---- tests ---------------------------------------------------------------

#[tokio::test]
async fn websocket_needs_a_session_and_the_same_origin() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    match ws_request(&app, None, None).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 401),
        other => panic!("expected 401, got {:?}", other.map(|(_, s)| s)),
    }
    match ws_request(&app, Some(&a.cookie), Some("http://evil.example")).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 403),
        other => panic!("expected 403, got {:?}", other.map(|(_, s)| s)),
    }
    let origin = format!("http://{}", app.addr);
    let (_, status) = ws_request(&app, Some(&a.cookie), Some(&origin))
        .await
        .expect("same origin accepted");
    assert_eq!(status, 101);
}

#[tokio::test]
async fn chat_both_ways_across_websocket_and_webtransport() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let mut ws = Ws::open(&app, &a).await;
    let mut wt = open_wt(&b).await;
    // Alice sees Bob come online.
    let p = ws.next_of("presence").await;
    assert_eq!(
        (p["user"].as_str(), p["status"].as_str()),
        (Some("bob"), Some("online"))
    );

    ws.send(send_frame(&conv, "a1", "hello over WebSocket"))
        .await;
    let ack = ws.next_of("ack").await;
    assert_eq!(ack["client_msg_id"], "a1");
    assert_eq!(ack["seq"], 1);
    let m = wt.next_of("message").await;
    assert_eq!(m["body"], "hello over WebSocket");
    assert_eq!(m["sender"], "alice");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["message_id"], ack["message_id"]);

    wt.send(send_frame(&conv, "b1", "and back over WebTransport"))
        .await;
    let ack = wt.next_of("ack").await;
    assert_eq!(ack["seq"], 2);
    let m = ws.next_of("message").await;
    assert_eq!(m["body"], "and back over WebTransport");
    assert_eq!(m["sender"], "bob");

    // Typing travels too, and read receipts.
    wt.send(json!({"type": "typing", "conversation_id": conv}))
        .await;
    let t = ws.next_of("typing").await;
    assert_eq!(t["user"], "bob");
    wt.send(json!({"type": "read", "conversation_id": conv, "seq": 2}))
        .await;
    let r = ws.next_of("read").await;
    assert_eq!(
        (r["user"].as_str(), r["seq"].as_i64()),
        (Some("bob"), Some(2))
    );
}

/// Frames queued for a WebTransport session go out together (one write
/// of several lines): each still arrives whole, once, in order, whatever
/// its length.
#[tokio::test]
async fn a_burst_reaches_webtransport_as_whole_lines_in_order() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let mut ws = Ws::open(&app, &a).await;
    let mut wt = open_wt(&b).await;
    ws.next_of("presence").await;
    // The burst the send limit allows, without waiting for acks; bodies
    // from a few bytes to several QUIC packets.
    let body = |i: usize| format!("{i}:{}", "x".repeat(i * 130));
    for i in 0..30 {
        ws.send(send_frame(&conv, &format!("m{i}"), &body(i))).await;
    }
    for i in 0..30 {
        let m = wt.next_of("message").await;
        assert_eq!(m["seq"], i as i64 + 1);
        assert_eq!(m["body"], body(i));
    }
    wt.ping().await;
}

#[tokio::test]
async fn a_resend_is_acked_with_the_same_seq_and_delivered_once() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let mut ws = Ws::open(&app, &a).await;
    let mut bob = Ws::open(&app, &b).await;
    ws.send(send_frame(&conv, "same", "once")).await;
    let first = ws.next_of("ack").await;
    ws.send(send_frame(&conv, "same", "once")).await;
    let second = ws.next_of("ack").await;
    assert_eq!(first["seq"], second["seq"]);
    assert_eq!(first["message_id"], second["message_id"]);
    ws.send(send_frame(&conv, "other", "twice?")).await;
    ws.next_of("ack").await;
    // Bob gets "once" then "twice?": the resend was not delivered again.
    assert_eq!(bob.next_of("message").await["body"], "once");
    assert_eq!(bob.next_of("message").await["body"], "twice?");
    let (_, page) = a
        .http
        .get(&format!("/api/conversations/{conv}/messages"))
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn sync_after_a_reconnect_replays_exactly_what_was_missed() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let mut ws = Ws::open(&app, &a).await;
    let mut bob = Ws::open(&app, &b).await;
    ws.send(send_frame(&conv, "m1", "seen")).await;
    let seen = bob.next_of("message").await["seq"].as_i64().expect("seq");
    drop(bob);
    // Alice sees Bob go offline, then writes while he is away.
    loop {
        let p = ws.next_of("presence").await;
        if p["user"] == "bob" && p["status"] == "offline" {
            break;
        }
    }
    for i in 2..=4 {
        ws.send(send_frame(&conv, &format!("m{i}"), &format!("missed {i}")))
            .await;
        ws.next_of("ack").await;
    }
    let mut bob = Ws::open(&app, &b).await;
    bob.send(json!({"type": "sync", "conversation_id": conv, "after_seq": seen}))
        .await;
    let mut got = Vec::new();
    loop {
        let v = bob.next().await;
        match v["type"].as_str() {
            Some("message") => got.push((v["seq"].as_i64(), v["body"].as_str().map(String::from))),
            Some("synced") => {
                assert_eq!(v["last_seq"], 4);
                break;
            }
            _ => {}
        }
    }
    let want: Vec<_> = (2..=4)
        .map(|i| (Some(i), Some(format!("missed {i}"))))
        .collect();
    assert_eq!(got, want);
    // Bob was offline: he has a message notification.
    let (_, n) = b.http.get("/api/notifications").await;
    assert!(
        n["items"]
            .as_array()
            .is_some_and(|i| i.iter().any(|x| x["kind"] == "message")),
        "{n}"
    );
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_stays_open() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let carol = person(&app, "carol").await;
    let mut ws = Ws::open(&app, &a).await;
    let expect_error = async |ws: &mut Ws, text: String, code: &str| {
        ws.send_text(text.clone()).await;
        let e = ws.next_of("error").await;
        assert_eq!(e["code"], code, "for {text}: {e}");
        assert!(e["message"].is_string());
    };
    expect_error(&mut ws, "not json".into(), "bad_frame").await;
    expect_error(&mut ws, r#"{"type":"dance"}"#.into(), "bad_frame").await;
    expect_error(&mut ws, r#"{"type":"send"}"#.into(), "invalid").await;
    let long = "x".repeat(4001);
    expect_error(
        &mut ws,
        send_frame(&conv, "long", &long).to_string(),
        "invalid",
    )
    .await;
    // A real conversation Alice is not in (Bob and Carol's), and an id that
    // names nothing.
    b.http.befriend(&carol.http, "carol").await;
    let (_, v) = b
        .http
        .post("/api/conversations", json!({"members": ["carol"]}))
        .await;
    let theirs = v["id"].as_str().expect("id").to_string();
    for conv_id in [theirs.as_str(), "zzzzzzzz"] {
        expect_error(
            &mut ws,
            send_frame(conv_id, "x1", "hi").to_string(),
            "not_found",
        )
        .await;
        let sync = json!({"type": "sync", "conversation_id": conv_id, "after_seq": 0});
        expect_error(&mut ws, sync.to_string(), "not_found").await;
        let read = json!({"type": "read", "conversation_id": conv_id, "seq": 1});
        expect_error(&mut ws, read.to_string(), "not_found").await;
    }
    ws.0.send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("binary");
    assert_eq!(ws.next_of("error").await["code"], "bad_frame");
    // Still open, and nothing acked was lost.
    ws.send(send_frame(&conv, "ok", "still here")).await;
    assert_eq!(ws.next_of("ack").await["seq"], 1);
    ws.send(json!({"type": "ping"})).await;
    ws.next_of("pong").await;
}

#[tokio::test]
async fn sends_over_the_rate_limit_get_an_error_frame() {
    let app = spawn_app().await;
    let (a, _b, conv) = pair(&app).await;
    let mut ws = Ws::open(&app, &a).await;
    for i in 0..60 {
        ws.send(send_frame(&conv, &format!("r{i}"), "flood")).await;
    }
    let (mut acks, mut limited) = (0, 0);
    for _ in 0..60 {
        loop {
            let v = ws.next().await;
            match v["type"].as_str() {
                Some("ack") => {
                    acks += 1;
                    break;
                }
                Some("error") => {
                    assert_eq!(v["code"], "rate_limited");
                    limited += 1;
                    break;
                }
                _ => {}
            }
        }
    }
    assert!(acks >= 30 && limited > 0, "acks {acks}, limited {limited}");
    // Everything acked is stored.
    let (_, page) = a
        .http
        .get(&format!("/api/conversations/{conv}/messages?limit=100"))
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(acks));
    ws.send(json!({"type": "ping"})).await;
    ws.next_of("pong").await;
}

#[tokio::test]
async fn a_frame_over_64_kib_closes_the_websocket_with_1009() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let mut ws = Ws::open(&app, &a).await;
    ws.send_text("x".repeat(70 * 1024)).await;
    let (code, _) = ws.closed().await;
    assert_eq!(code, u16::from(CloseCode::Size));
}

/// The server frames in `bytes` (unmasked, as a server sends them): each
/// one's opcode and payload; stops at an incomplete one.
fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = vec![];
    while bytes.len() >= 2 {
        let (len, head) = match bytes[1] & 0x7f {
            126 if bytes.len() >= 4 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 if bytes.len() >= 10 => {
                let n = u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes"));
                (usize::try_from(n).expect("length"), 10)
            }
            n @ 0..=125 => (usize::from(n), 2),
            _ => break,
        };
        if bytes.len() < head + len {
            break;
        }
        frames.push((bytes[0] & 0x0f, bytes[head..head + len].to_vec()));
        bytes = &bytes[head + len..];
    }
    frames
}

/// A client frame: masked, as RFC 6455 requires.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=65535 => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A 200 KB frame: the server stops reading it at its header. The rest is
/// still arriving when it closes; unless it reads and drops that, the
/// kernel resets the connection, and the client, reading a moment later,
/// finds a reset instead of the 1009 close frame.
#[tokio::test]
async fn a_frame_too_big_is_answered_1009_and_the_connection_ends_cleanly() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let tcp = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    let mut req = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(&a.cookie).expect("cookie"));
    let (ws, _) = tokio_tungstenite::client_async(req, tcp)
        .await
        .expect("handshake");
    let mut tcp = ws.into_inner();
    // Sent whole (a reset may cut it short: that is what is tested next).
    let _ = tcp.write_all(&client_frame(0x1, &[b'x'; 200_000])).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let close = crate::wait::within_for("the close frame", async {
        loop {
            let n = tcp.read(&mut buf).await.expect("read, not a reset");
            assert!(n > 0, "the connection ended without a close frame");
            got.extend_from_slice(&buf[..n]);
            if let Some((_, p)) = server_frames(&got).into_iter().find(|(op, _)| *op == 0x8) {
                return p;
            }
        }
    })
    .await;
    assert_eq!(u16::from_be_bytes([close[0], close[1]]), 1009, "{close:?}");
    // The client's close, then the end of its side: the server ends too.
    tcp.write_all(&client_frame(0x8, &1009u16.to_be_bytes()))
        .await
        .expect("send close");
    tcp.shutdown().await.expect("shutdown");
    crate::wait::within_for("the server's end", async {
        while tcp.read(&mut buf).await.expect("read, not a reset") > 0 {}
    })
    .await;
}

/// The same with Python's `websockets`, a client nobody here wrote.
#[tokio::test]
async fn python_websockets_reads_1009_after_a_frame_too_big() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let out = crate::wait::within_for(
        "python websockets",
        tokio::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/clients/ws_big_frame.py"
            ))
            .arg(format!("ws://{}/ws", app.addr))
            .arg(&a.cookie)
            .arg("200000")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.trim(), "1009 message too big");
}

#[tokio::test]
async fn webtransport_refuses_bad_tickets_and_foreign_origins() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    assert!(wt_connect(&a, "garbage", None).await.is_err());
    let t = ticket(&a).await;
    // Tampered: another user's id under Alice's signature.
    let tampered = format!("x{t}");
    assert!(wt_connect(&a, &tampered, None).await.is_err());
    assert!(
        wt_connect(&a, &t, Some("https://evil.example"))
            .await
            .is_err()
    );
    // The genuine ticket works.
    assert!(wt_connect(&a, &t, None).await.is_ok());
}

#[tokio::test]
async fn a_slow_consumer_is_dropped_while_others_keep_receiving() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let mut fast = Ws::open(&app, &b).await;
    // Bob's second device reads nothing, through a tiny receive buffer.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = socket.connect(app.addr).await.expect("connect");
    let mut req = format!("ws://{}/ws", app.addr)
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(&b.cookie).expect("cookie"));
    let (mut slow, _) = tokio_tungstenite::client_async(req, tcp)
        .await
        .expect("slow handshake");
    // Alice sends from a fresh connection per batch, each within its own
    // rate limit's burst, enough to fill the socket buffers, the server's
    // write buffer and the hub queue (256 frames) several times over.
    const BATCHES: usize = 60;
    let body = "y".repeat(4000);
    let mut sent = 0;
    for s in 0..BATCHES {
        let mut ws = Ws::open(&app, &a).await;
        for i in 0..25 {
            ws.send(send_frame(&conv, &format!("s{s}-{i}"), &body))
                .await;
        }
        for _ in 0..25 {
            ws.next_of("ack").await;
            sent += 1;
        }
        // The fast device keeps up.
        for _ in 0..25 {
            fast.next_of("message").await;
        }
    }
    assert_eq!(sent, BATCHES * 25);
    // The slow device was dropped: its socket ends with a close saying why,
    // before all 300 messages reached it.
    let mut received = 0;
    let close = loop {
        let m = tokio::time::timeout(TIMEOUT, slow.next())
            .await
            .expect("slow consumer not closed in time");
        match m {
            Some(Ok(Message::Text(t))) if t.as_str().contains("\"message\"") => received += 1,
            Some(Ok(Message::Close(c))) => break c,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert!(received < sent, "got all {received}");
    if let Some(c) = close {
        assert_eq!(u16::from(c.code), 4000);
        assert_eq!(c.reason.as_str(), "slow consumer");
    }
    // The fast device still works afterwards.
    let mut ws = Ws::open(&app, &a).await;
    ws.send(send_frame(&conv, "after", "still flowing")).await;
    assert_eq!(fast.next_of("message").await["body"], "still flowing");
    // Bob has one device left on the hub.
    crate::helpers::within(async {
        while app.state.hub.connections() != 2 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn notifications_are_pushed_live() {
    let app = spawn_app().await;
    let (a, b, _conv) = pair(&app).await;
    let mut bob = Ws::open(&app, &b).await;
    let post = b.http.new_post("like me", "public").await;
    let (status, _) = a.http.put(&format!("/api/posts/{post}/like")).await;
    assert_eq!(status, 200);
    let n = bob.next_of("notification").await;
    assert_eq!(n["kind"], "like");
    assert_eq!(n["actor"]["username"], "alice");
    assert_eq!(n["subject_id"], json!(post));
}

#[tokio::test]
async fn typing_is_passed_on_at_most_every_so_often() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let mut ws = Ws::open(&app, &a).await;
    let mut bob = Ws::open(&app, &b).await;
    for _ in 0..5 {
        ws.send(json!({"type": "typing", "conversation_id": conv}))
            .await;
    }
    ws.send(send_frame(&conv, "t1", "done typing")).await;
    ws.next_of("ack").await;
    // Bob sees one typing frame, then the message: the other four were
    // dropped, not queued.
    let mut typing = 0;
    loop {
        let v = bob.next().await;
        match v["type"].as_str() {
            Some("typing") => typing += 1,
            Some("message") => break,
            _ => {}
        }
    }
    assert_eq!(typing, 1);
    // Typing in a conversation you are not in is an error.
    ws.send(json!({"type": "typing", "conversation_id": "zzzzzzzz"}))
        .await;
    assert_eq!(ws.next_of("error").await["code"], "not_found");
    // So is typing in one that exists with others in it, and they hear
    // nothing.
    let carol = person(&app, "carol").await;
    let mut carol_ws = Ws::open(&app, &carol).await;
    carol_ws
        .send(json!({"type": "typing", "conversation_id": conv}))
        .await;
    assert_eq!(carol_ws.next_of("error").await["code"], "not_found");
    ws.send(send_frame(&conv, "t2", "still here")).await;
    ws.next_of("ack").await;
    loop {
        let v = bob.next().await;
        assert_ne!(v["type"], "typing", "a non-member's typing was passed on");
        if v["type"] == "message" {
            assert_eq!(v["body"], "still here");
            break;
        }
    }
}

#[tokio::test]
async fn an_expired_ticket_is_refused() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let (_, me) = a.http.get("/api/me").await;
    let id: kith::ids::Id = me["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("valid id");
    let long_ago = kith::ids::now_ms() - 10 * kith::realtime::ticket::TTL_MS;
    let (_, sessions) = a.http.get("/api/me/sessions").await;
    let session: kith::ids::Id = sessions["sessions"][0]["id"]
        .as_str()
        .expect("session")
        .parse()
        .expect("valid id");
    let expired = app.state.tickets.issue_at(id, session, long_ago);
    assert!(wt_connect(&a, &expired, None).await.is_err());
    let fresh = app.state.tickets.issue(id, session);
    assert!(wt_connect(&a, &fresh, None).await.is_ok());
}

#[tokio::test]
async fn webtransport_serves_a_certificate_from_files() {
    // A certificate made elsewhere (here, by wtransport), given as PEM files.
    let dir = tempfile::tempdir().expect("temp dir");
    let identity = wtransport::Identity::self_signed(["localhost", "127.0.0.1"]).expect("identity");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let chain: Vec<String> = identity
        .certificate_chain()
        .as_slice()
        .iter()
        .map(|c| c.to_pem())
        .collect();
    std::fs::write(&cert, chain.concat()).expect("write cert");
    std::fs::write(&key, identity.private_key().to_secret_pem()).expect("write key");
    let expected = {
        use base64::Engine;
        let digest = identity.certificate_chain().as_slice()[0].hash();
        base64::engine::general_purpose::STANDARD.encode(AsRef::<[u8; 32]>::as_ref(&digest))
    };
    let app = crate::helpers::spawn_with(|c| {
        c.wt_cert = Some(cert.clone());
        c.wt_key = Some(key.clone());
    })
    .await;
    let a = person(&app, "alice").await;
    let (_, cfg) = a.http.get("/api/realtime/config").await;
    // Only that certificate: nothing is made or stored.
    assert_eq!(
        cfg["webtransport"]["cert_hashes"],
        json!([{"algorithm": "sha-256", "value": expected}])
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM settings WHERE key = 'wt_certs'")
        .fetch_one(&app.state.read)
        .await
        .expect("count");
    assert_eq!(stored, 0);
    // And the client that pins that hash gets through.
    let mut wt = open_wt(&a).await;
    wt.send(json!({"type": "ping"})).await;
    wt.next_of("pong").await;
}

#[tokio::test]
async fn typing_and_presence_travel_as_datagrams_over_webtransport() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let wt = open_wt(&b).await;
    let datagram = async |wt: &Wt| -> Value {
        let d = tokio::time::timeout(TIMEOUT, wt.conn.receive_datagram())
            .await
            .expect("no datagram in time")
            .expect("datagram");
        serde_json::from_slice(&d).expect("JSON datagram")
    };
    // Alice coming online reaches Bob as a datagram.
    let mut ws = Ws::open(&app, &a).await;
    let p = datagram(&wt).await;
    assert_eq!(
        (p["type"].as_str(), p["user"].as_str()),
        (Some("presence"), Some("alice"))
    );
    // So does her typing.
    ws.send(json!({"type": "typing", "conversation_id": conv}))
        .await;
    let t = datagram(&wt).await;
    assert_eq!(
        (t["type"].as_str(), t["user"].as_str()),
        (Some("typing"), Some("alice"))
    );
    // Bob's typing may come as a datagram; Alice sees it.
    let frame = json!({"type": "typing", "conversation_id": conv}).to_string();
    wt.conn
        .send_datagram(frame.as_bytes())
        .expect("send datagram");
    let t = ws.next_of("typing").await;
    assert_eq!(t["user"], "bob");
    // Other frames are not taken as datagrams: a send must use the stream.
    let send = send_frame(&conv, "dg", "lost?").to_string();
    wt.conn
        .send_datagram(send.as_bytes())
        .expect("send datagram");
    ws.send(json!({"type": "ping"})).await;
    ws.next_of("pong").await;
    let (_, page) = a
        .http
        .get(&format!("/api/conversations/{conv}/messages"))
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0), "{page}");
}

#[tokio::test]
async fn webtransport_can_listen_apart_from_http() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let app = crate::helpers::spawn_with(|c| c.wt_listen = Some(format!("127.0.0.1:{port}"))).await;
    assert_ne!(app.addr.port(), port);
    let a = person(&app, "alice").await;
    let (_, cfg) = a.http.get("/api/realtime/config").await;
    assert!(
        cfg["webtransport"]["url"]
            .as_str()
            .is_some_and(|u| u.contains(&format!(":{port}/"))),
        "{cfg}"
    );
    let mut wt = open_wt(&a).await;
    wt.send(json!({"type": "ping"})).await;
    wt.next_of("pong").await;
}
