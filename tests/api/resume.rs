//! `resume`: one exchange brings back everything missed, in every
//! conversation, with notifications; bad tokens are refused.

use serde_json::{Value, json};

use crate::helpers::{Person, TestApp, direct, person, spawn_app};
use crate::ws::Ws;
use kith_core::ids::{Id, now_ms};
use kith_core::resume::{MAX_AGE_MS, Point};

fn send(conv: &str, cid: &str, body: &str) -> Value {
    json!({"type": "send", "conversation_id": conv, "client_msg_id": cid, "body": body})
}

/// Opens a connection and answers it with the token of its greeting.
async fn open(app: &TestApp, p: &Person) -> (Ws, String) {
    let addr = app.addr;
    let origin = format!("http://{addr}");
    let (mut ws, status) = Ws::connect(addr, Some(&p.cookie), Some(&origin))
        .await
        .expect("handshake");
    assert_eq!(status, 101);
    let hello = ws.next_of("hello").await;
    let token = hello["resume_token"].as_str().expect("a token").to_string();
    (ws, token)
}

/// Sends `resume` and collects what comes before `resumed`.
async fn resume(ws: &mut Ws, token: &str) -> (Vec<Value>, Value) {
    ws.send(json!({"type": "resume", "token": token})).await;
    let mut got = Vec::new();
    loop {
        let v = ws.next().await;
        match v["type"].as_str() {
            Some("resumed") => return (got, v),
            Some("message" | "event" | "notification") => got.push(v),
            Some("error") => panic!("resume refused: {v}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn one_resume_brings_back_every_conversation_and_notification() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let b = person(&app, "bob").await;
    let c = person(&app, "carol").await;
    a.http.befriend(&b.http, "bob").await;
    b.http.befriend(&c.http, "carol").await;
    let direct_ab = direct(&b.http, "alice").await;
    let mut wb = Ws::open(&app, &b).await;
    wb.send(send(&direct_ab, "b0", "before she came")).await;
    wb.next_of("ack").await;
    let (wa, token) = open(&app, &a).await;
    drop(wa);

    // While alice is away: a message and an edit in one conversation, a
    // new group with her in it, a like on her post.
    wb.send(send(&direct_ab, "b1", "are you there")).await;
    let seq = wb.next_of("ack").await["seq"].as_i64().expect("seq");
    wb.send(
        json!({"type": "edit", "conversation_id": direct_ab, "client_msg_id": "e1",
        "seq": seq, "body": "are you there?"}),
    )
    .await;
    wb.next_of("ack").await;
    let (s, v) = b
        .http
        .post(
            "/api/conversations",
            json!({"members": ["alice", "carol"], "title": "Weekend"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let group = v["id"].as_str().expect("id").to_string();
    wb.send(send(&group, "g1", "plans?")).await;
    wb.next_of("ack").await;
    let post = a.http.new_post("my post", "friends").await;
    let (s, _) = b.http.put(&format!("/api/posts/{post}/like")).await;
    assert!(s.is_success());

    let (mut wa, _) = open(&app, &a).await;
    let (got, done) = resume(&mut wa, &token).await;
    assert_eq!(done["full"], false, "{done}");
    // (A notification stored late may also arrive live, beside the replay.)
    let replayed = done["replayed"].as_u64().expect("replayed") as usize;
    assert!(
        replayed >= 5 && replayed <= got.len(),
        "{replayed} of {}",
        got.len()
    );
    let bodies: Vec<&str> = got.iter().filter_map(|v| v["body"].as_str()).collect();
    assert!(
        bodies.contains(&"are you there?"),
        "the message as edited: {got:?}"
    );
    assert!(
        bodies.contains(&"plans?"),
        "the new group's message: {got:?}"
    );
    assert!(
        !bodies.contains(&"before she came"),
        "nothing from before the token: {got:?}"
    );
    assert!(got.iter().any(|v| v["kind"] == "edit"), "the edit event");
    assert!(
        got.iter()
            .any(|v| v["type"] == "notification" && v["kind"] == "like")
    );
    // In seq order within each conversation.
    let seqs: Vec<i64> = got
        .iter()
        .filter(|v| v["conversation_id"] == direct_ab.as_str())
        .filter_map(|v| v["seq"].as_i64())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // The new token has it all: resuming again replays no item.
    let next = done["token"].as_str().expect("token").to_string();
    let (again, done) = resume(&mut wa, &next).await;
    assert!(
        again.iter().all(|v| v["type"] == "notification"),
        "only notifications near the point are repeated: {again:?}"
    );
    assert_eq!(done["full"], false);
}

#[tokio::test]
async fn forged_foreign_and_old_tokens_are_refused() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let b = person(&app, "bob").await;
    let (mut wa, token) = open(&app, &a).await;
    let (_, bobs) = open(&app, &b).await;

    // The same signature over a later position.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 5, "{token}");
    let later: i64 = parts[2].parse::<i64>().expect("position") + 1000;
    let forged = format!("r1.{}.{later}.{}.{}", parts[1], parts[3], parts[4]);
    wa.send(json!({"type": "resume", "token": forged})).await;
    assert_eq!(wa.next_of("error").await["code"], "invalid");
    wa.send(json!({"type": "resume", "token": bobs})).await;
    assert_eq!(wa.next_of("error").await["code"], "forbidden");
    wa.send(json!({"type": "resume", "token": "x".repeat(500)}))
        .await;
    assert_eq!(wa.next_of("error").await["code"], "invalid");

    let user: Id = {
        let (_, me) = a.http.get("/api/me").await;
        me["user"]["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("an id")
    };
    let old = app.state.resume.issue(Point {
        user,
        position: 0,
        issued_ms: now_ms() - MAX_AGE_MS - 1,
    });
    let (got, done) = resume(&mut wa, &old).await;
    assert!(got.is_empty());
    assert_eq!(done["full"], true, "too old: load afresh, {done}");
}

#[tokio::test]
async fn a_checkpoint_hands_out_a_position_once_it_has_settled() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let b = person(&app, "bob").await;
    a.http.befriend(&b.http, "bob").await;
    let conv = direct(&b.http, "alice").await;
    let (mut wa, first) = open(&app, &a).await;
    let mut wb = Ws::open(&app, &b).await;
    wb.send(send(&conv, "b1", "seen live")).await;
    wb.next_of("ack").await;
    wa.next_of("message").await;

    // The position read at the greeting has settled but is not newer; the
    // one read now (after bob's message) is handed out only a ping later,
    // once it has settled too.
    let wait = kith_core::resume::SETTLE + std::time::Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    wa.send(json!({"type": "ping"})).await;
    wa.next_of("pong").await;
    tokio::time::sleep(wait).await;
    wa.send(json!({"type": "ping"})).await;
    let checkpoint = wa.next_of("checkpoint").await;
    let token = checkpoint["token"].as_str().expect("token").to_string();
    assert_ne!(token, first);
    // It covers the message seen live: a resume from it replays nothing.
    let (got, _) = resume(&mut wa, &token).await;
    assert!(
        got.iter().all(|v| v["type"] != "message"),
        "nothing before the checkpoint again: {got:?}"
    );
    let (got, _) = resume(&mut wa, &first).await;
    assert!(got.iter().any(|v| v["body"] == "seen live"), "{got:?}");
}
