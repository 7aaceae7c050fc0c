//! Groups people manage: roles, adding and removing members, leaving,
//! renaming, each a sequenced event; a removed member stops receiving at
//! once and cannot read past their removal; mute and unread counts.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Person, TIMEOUT, TestApp, person, spawn_app};
use crate::ws::Ws;

/// Alice, friends with bob, carol and dan, and a group of alice, bob and
/// carol she owns.
async fn group(app: &TestApp) -> (Person, Person, Person, Person, String) {
    let a = person(app, "alice").await;
    let b = person(app, "bob").await;
    let c = person(app, "carol").await;
    let d = person(app, "dan").await;
    for (p, name) in [(&b, "bob"), (&c, "carol"), (&d, "dan")] {
        a.http.befriend(&p.http, name).await;
    }
    let (s, v) = a
        .http
        .post(
            "/api/conversations",
            json!({"members": ["bob", "carol"], "title": "Trip"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let conv = v["id"].as_str().expect("id").to_string();
    (a, b, c, d, conv)
}

fn send(conv: &str, cid: &str, body: &str) -> Value {
    json!({"type": "send", "conversation_id": conv, "client_msg_id": cid, "body": body})
}

async fn rename(who: &Person, conv: &str, title: &str) -> reqwest::StatusCode {
    let path = format!("/api/conversations/{conv}");
    who.http
        .request(Method::PATCH, &path, Some(json!({"title": title})))
        .await
        .0
}

async fn view(p: &Person, conv: &str) -> Value {
    let (s, v) = p.http.get(&format!("/api/conversations/{conv}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test]
async fn owners_and_admins_manage_a_group_and_everyone_sees_each_change() {
    let app = spawn_app().await;
    let (a, b, c, d, conv) = group(&app).await;
    let mut wb = Ws::open(&app, &b).await;
    let v = view(&a, &conv).await;
    assert_eq!(
        (v["role"].as_str(), v["owner"].as_str()),
        (Some("owner"), Some("alice"))
    );
    assert_eq!(view(&b, &conv).await["role"], "member");

    // A member may not add, remove, rename or change roles.
    let members = format!("/api/conversations/{conv}/members");
    let (s, _) = b.http.post(&members, json!({"members": ["carol"]})).await;
    assert_eq!(s, 403);
    let (s, _) = b.http.delete(&format!("{members}/carol")).await;
    assert_eq!(s, 403);
    assert_eq!(rename(&b, &conv, "Mine").await, 403);
    assert_eq!(rename(&a, &conv, " ").await, 422, "an empty title");

    // The owner adds dan; bob hears it; dan reads from his addition on.
    let mut wa = Ws::open(&app, &a).await;
    wa.send(send(&conv, "before", "before dan")).await;
    wa.next_of("ack").await;
    let (s, v) = a
        .http
        .post(&members, json!({"members": ["dan", "bob"]}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["added"], json!(["dan"]), "bob was a member already");
    let e = wb
        .next_matching("event", TIMEOUT, |e| e["kind"] == "member_added")
        .await
        .expect("bob sees dan added");
    assert_eq!(
        (e["user"].as_str(), e["actor"].as_str()),
        (Some("dan"), Some("alice"))
    );
    let (s, page) = d
        .http
        .get(&format!("/api/conversations/{conv}/messages?after_seq=0"))
        .await;
    assert_eq!(s, 200, "{page}");
    let first = &page["items"][0];
    assert_eq!(
        first["kind"], "member_added",
        "dan does not read what came before: {page}"
    );

    // Alice makes bob an admin; he renames the group.
    let (s, _) = a
        .http
        .request(
            Method::PUT,
            &format!("{members}/bob/role"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(rename(&b, &conv, "Trip to Lyon").await, 204);
    let e = wa
        .next_matching("event", TIMEOUT, |e| e["kind"] == "renamed")
        .await
        .expect("alice sees the rename");
    assert_eq!(e["title"], "Trip to Lyon");
    assert_eq!(view(&c, &conv).await["title"], "Trip to Lyon");
    assert_eq!(view(&c, &conv).await["admins"], json!(["bob"]));
    // An admin may not remove another admin or the owner.
    let (s, _) = b.http.delete(&format!("{members}/alice")).await;
    assert_eq!(s, 403);

    // The owner leaves: the admin inherits the group.
    let (s, _) = a.http.delete(&format!("{members}/alice")).await;
    assert_eq!(s, 204);
    let v = view(&b, &conv).await;
    assert_eq!(v["owner"], "bob", "{v}");
    let gone = view(&a, &conv).await;
    assert_eq!(gone["left"], true, "{gone}");
    let e = wb
        .next_matching("event", TIMEOUT, |e| {
            e["kind"] == "role_changed" && e["role"] == "owner"
        })
        .await
        .expect("the handover is an event");
    assert_eq!(e["user"], "bob");
}

#[tokio::test]
async fn a_removed_member_stops_receiving_at_once_and_reads_no_further() {
    let app = spawn_app().await;
    let (a, b, c, _d, conv) = group(&app).await;
    let mut wa = Ws::open(&app, &a).await;
    let mut wc = Ws::open(&app, &c).await;
    wa.send(send(&conv, "m1", "hello all")).await;
    wa.next_of("ack").await;
    wc.next_of("message").await;

    let (s, _) = a
        .http
        .delete(&format!("/api/conversations/{conv}/members/carol"))
        .await;
    assert_eq!(s, 204);
    let removed = wc
        .next_matching("event", TIMEOUT, |e| e["kind"] == "member_removed")
        .await
        .expect("carol is told she was removed");
    let removed_at = removed["seq"].as_i64().expect("seq");

    wa.send(send(&conv, "m2", "carol is gone")).await;
    wa.next_of("ack").await;
    assert!(
        wc.next_matching("message", Duration::from_secs(2), |_| true)
            .await
            .is_none(),
        "a removed member receives nothing more"
    );
    // Her sends are refused; her sync ends at her removal.
    wc.send(send(&conv, "c1", "let me back")).await;
    let err = wc.next_of("error").await;
    assert_eq!(err["code"], "forbidden", "{err}");
    wc.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    let synced = wc.next_of("synced").await;
    assert_eq!(synced["last_seq"], removed_at, "{synced}");
    let (s, page) = c
        .http
        .get(&format!("/api/conversations/{conv}/messages?after_seq=0"))
        .await;
    assert_eq!(s, 200);
    let bodies: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["body"].as_str())
        .collect();
    assert!(!bodies.contains(&"carol is gone"), "{page}");
    assert_eq!(page["last_seq"], removed_at);
    // Bob, still a member, reads everything.
    let (_, page) = b
        .http
        .get(&format!("/api/conversations/{conv}/messages?after_seq=0"))
        .await;
    assert_eq!(page["items"].as_array().expect("items").len(), 3, "{page}");
}

#[tokio::test]
async fn unread_and_mention_counts_and_a_muted_conversation_stays_quiet() {
    let app = spawn_app().await;
    let (a, b, c, _d, conv) = group(&app).await;
    let (s, _) = b
        .http
        .request(
            Method::PUT,
            &format!("/api/conversations/{conv}/mute"),
            Some(json!({"muted": true})),
        )
        .await;
    assert_eq!(s, 204);
    let mut wa = Ws::open(&app, &a).await;
    wa.send(send(&conv, "m1", "plain")).await;
    let ack = wa.next_of("ack").await;
    wa.send(send(&conv, "m2", "@bob and @carol, look")).await;
    wa.next_of("ack").await;
    // Reactions are events, not unread messages.
    wa.send(
        json!({"type": "react", "conversation_id": conv, "client_msg_id": "r",
        "seq": ack["seq"], "emoji": "🔥"}),
    )
    .await;
    wa.next_of("ack").await;

    let vb = view(&b, &conv).await;
    assert_eq!(
        (vb["unread"].as_i64(), vb["mentions"].as_i64()),
        (Some(2), Some(1)),
        "{vb}"
    );
    assert_eq!(vb["muted"], true);
    let vc = view(&c, &conv).await;
    assert_eq!(
        (vc["unread"].as_i64(), vc["mentions"].as_i64()),
        (Some(2), Some(1)),
        "{vc}"
    );
    assert_eq!(
        view(&a, &conv).await["unread"],
        0,
        "one's own messages are read"
    );

    // Carol is told (a mention); muted bob is told nothing.
    let kinds = |v: Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|n| n["kind"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (_, v) = c.http.get("/api/notifications").await;
        if kinds(v.clone()).contains(&"chat_mention".to_string()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "carol's mention: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // (Both were queued by the same send; carol's has landed.)
    let (_, v) = b.http.get("/api/notifications").await;
    let chat: Vec<String> = kinds(v.clone())
        .into_iter()
        .filter(|k| k.contains("message") || k.contains("mention"))
        .collect();
    assert!(chat.is_empty(), "a muted conversation notifies nobody: {v}");
}

#[tokio::test]
async fn a_group_whose_owner_deletes_their_account_passes_to_a_member() {
    let app = spawn_app().await;
    let (a, b, _c, _d, conv) = group(&app).await;
    let (s, v) = a
        .http
        .request(
            Method::DELETE,
            "/api/me",
            Some(json!({"password": crate::helpers::password_of("alice")})),
        )
        .await;
    assert!(s.is_success(), "{v}");
    // Bob and carol joined together; bob's account is the older.
    let v = view(&b, &conv).await;
    assert_eq!(v["owner"], "bob", "{v}");
    let (s, _) = b
        .http
        .request(
            Method::PATCH,
            &format!("/api/conversations/{conv}"),
            Some(json!({"title": "Still here"})),
        )
        .await;
    assert_eq!(s, 204, "the new owner manages it");
}
