//! Edits, unsends, reactions and replies: events with their own seq, live
//! to every member and replayed by `sync` and the REST pages.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Person, spawn_app};
use crate::realtime::pair;
use crate::ws::Ws;

fn frame(kind: &str, conv: &str, cid: &str, extra: Value) -> Value {
    let mut f = json!({"type": kind, "conversation_id": conv, "client_msg_id": cid});
    for (k, v) in extra.as_object().expect("fields") {
        f[k] = v.clone();
    }
    f
}

/// Sends `f` and answers the ack or error that follows.
async fn answer(ws: &mut Ws, f: Value) -> Value {
    ws.send(f).await;
    loop {
        let v = ws.next().await;
        if v["type"] == "ack" || v["type"] == "error" {
            return v;
        }
    }
}

/// The conversation's items through REST, oldest first.
async fn items(p: &Person, conv: &str) -> Vec<Value> {
    let (s, v) = p
        .http
        .get(&format!("/api/conversations/{conv}/messages?after_seq=0"))
        .await;
    assert_eq!(s, 200, "{v}");
    v["items"].as_array().expect("items").clone()
}

/// Replays everything with `sync`: the frames before `synced`.
async fn replay(ws: &mut Ws, conv: &str) -> Vec<Value> {
    ws.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    let mut out = Vec::new();
    loop {
        let v = ws.next().await;
        match v["type"].as_str() {
            Some("synced") => return out,
            Some("message" | "event") => out.push(v),
            _ => {}
        }
    }
}

#[tokio::test]
async fn edits_unsends_reactions_and_replies_reach_everyone_and_replay() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let mut wa = Ws::open(&app, &a).await;
    let mut wb = Ws::open(&app, &b).await;

    let ack = answer(
        &mut wa,
        frame("send", &conv, "m1", json!({"body": "dinner at 8?"})),
    )
    .await;
    assert_eq!(ack["seq"], 1, "{ack}");
    wb.next_of("message").await;

    // Bob replies, quoting it.
    let ack = answer(
        &mut wb,
        frame(
            "send",
            &conv,
            "b1",
            json!({"body": "yes @alice", "reply_to": 1}),
        ),
    )
    .await;
    assert_eq!(ack["seq"], 2, "{ack}");
    let reply = wa.next_of("message").await;
    assert_eq!(reply["reply_to"]["seq"], 1, "{reply}");
    assert_eq!(reply["reply_to"]["excerpt"], "dinner at 8?");
    assert_eq!(reply["reply_to"]["sender"], "alice");
    assert_eq!(reply["mentions"], json!(["alice"]));

    // Alice edits hers; the edit is item 3 and reaches Bob.
    let ack = answer(
        &mut wa,
        frame(
            "edit",
            &conv,
            "e1",
            json!({"seq": 1, "body": "dinner at 9?"}),
        ),
    )
    .await;
    assert_eq!(ack["seq"], 3, "{ack}");
    let e = wb.next_of("event").await;
    assert_eq!(
        (
            e["kind"].as_str(),
            e["target_seq"].as_i64(),
            e["body"].as_str()
        ),
        (Some("edit"), Some(1), Some("dinner at 9?")),
        "{e}"
    );
    assert_eq!(e["actor"], "alice");
    // A retry is the same edit, stored once.
    let again = answer(
        &mut wa,
        frame(
            "edit",
            &conv,
            "e1",
            json!({"seq": 1, "body": "dinner at 9?"}),
        ),
    )
    .await;
    assert_eq!(again["seq"], 3, "{again}");

    // Bob reacts twice with the same emoji: one reaction, one event.
    let r = answer(
        &mut wb,
        frame("react", &conv, "r1", json!({"seq": 1, "emoji": "👍"})),
    )
    .await;
    assert_eq!(r["seq"], 4, "{r}");
    let r2 = answer(
        &mut wb,
        frame("react", &conv, "r2", json!({"seq": 1, "emoji": "👍"})),
    )
    .await;
    assert_eq!(r2["type"], "ack", "already there: nothing to do, {r2}");
    let ev = wa.next_of("event").await;
    assert_eq!(
        (ev["kind"].as_str(), ev["emoji"].as_str()),
        (Some("react"), Some("👍"))
    );
    answer(
        &mut wa,
        frame("react", &conv, "r3", json!({"seq": 1, "emoji": "🎉"})),
    )
    .await;

    // The REST page shows message 1 as it now reads, then the events.
    let list = items(&a, &conv).await;
    let kinds: Vec<&str> = list
        .iter()
        .map(|i| i["kind"].as_str().or(i["type"].as_str()).unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["message", "message", "edit", "react", "react"],
        "{list:?}"
    );
    assert_eq!(list[0]["body"], "dinner at 9?");
    assert!(list[0]["edited_at"].is_string(), "{}", list[0]);
    assert_eq!(
        list[0]["reactions"],
        json!([{"emoji": "👍", "users": ["bob"]}, {"emoji": "🎉", "users": ["alice"]}])
    );

    // Alice unsends it: gone for everyone, and its edit's text with it.
    let ack = answer(&mut wa, frame("unsend", &conv, "u1", json!({"seq": 1}))).await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let u = wb
        .next_matching("event", crate::helpers::TIMEOUT, |e| e["kind"] == "unsend")
        .await;
    assert_eq!(u.expect("unsend reaches bob")["target_seq"], 1);

    // A device that replays from scratch converges to the same state.
    let mut fresh = Ws::open(&app, &b).await;
    let all = replay(&mut fresh, &conv).await;
    let first = &all[0];
    assert_eq!(first["type"], "message");
    assert_eq!(first["unsent"], true, "{first}");
    assert_eq!(first["body"], "");
    assert_eq!(first["reactions"], json!([]));
    let quoted = &all[1]["reply_to"];
    assert_eq!(
        (quoted["unsent"].as_bool(), quoted["excerpt"].as_str()),
        (Some(true), Some(""))
    );
    let edit = all
        .iter()
        .find(|i| i["kind"] == "edit")
        .expect("the edit replays");
    assert_eq!(
        edit["body"], "",
        "an unsend takes the edits' text too: {edit}"
    );
    assert_eq!(all.last().expect("items")["kind"], "unsend");
}

#[tokio::test]
async fn changes_to_messages_refuse_what_is_not_allowed() {
    let app = spawn_app().await;
    let (a, b, conv) = pair(&app).await;
    let mut wa = Ws::open(&app, &a).await;
    let mut wb = Ws::open(&app, &b).await;
    answer(&mut wa, frame("send", &conv, "m1", json!({"body": "mine"}))).await;

    let code = |v: &Value| v["code"].as_str().unwrap_or("").to_string();
    let e = answer(
        &mut wb,
        frame("edit", &conv, "x1", json!({"seq": 1, "body": "theirs now"})),
    )
    .await;
    assert_eq!(code(&e), "forbidden", "editing another's message: {e}");
    let e = answer(&mut wb, frame("unsend", &conv, "x2", json!({"seq": 1}))).await;
    assert_eq!(code(&e), "forbidden", "unsending another's message: {e}");
    let e = answer(
        &mut wb,
        frame("react", &conv, "x3", json!({"seq": 1, "emoji": "🤡"})),
    )
    .await;
    assert_eq!(code(&e), "invalid", "a reaction outside the set: {e}");
    let e = answer(
        &mut wb,
        frame("send", &conv, "x4", json!({"body": "re", "reply_to": 99})),
    )
    .await;
    assert_eq!(code(&e), "invalid", "a reply to nothing: {e}");
    let e = answer(
        &mut wb,
        frame("react", &conv, "x5", json!({"seq": 7, "emoji": "👍"})),
    )
    .await;
    assert_eq!(code(&e), "not_found", "a reaction to nothing: {e}");

    answer(&mut wa, frame("unsend", &conv, "u1", json!({"seq": 1}))).await;
    let e = answer(
        &mut wa,
        frame("edit", &conv, "x6", json!({"seq": 1, "body": "back"})),
    )
    .await;
    assert_eq!(code(&e), "invalid", "editing after unsend: {e}");
    let e = answer(
        &mut wb,
        frame("react", &conv, "x7", json!({"seq": 1, "emoji": "👍"})),
    )
    .await;
    assert_eq!(code(&e), "invalid", "reacting to an unsent message: {e}");
    // None of it changed anything: the message, then the unsend.
    let list = items(&a, &conv).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list[1]["kind"], "unsend");
    let (s, _) = a
        .http
        .request(
            Method::PATCH,
            &format!("/api/conversations/{conv}"),
            Some(json!({"title": "a direct chat has none"})),
        )
        .await;
    assert_eq!(s, 422);
}
