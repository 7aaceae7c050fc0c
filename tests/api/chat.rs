//! Conversations, messages and notifications over REST.
//!
//! Messages can only be sent over the realtime protocol, so the tests'
//! WebSocket client ([`Ws`], as a [`Chatter`]) sends them; everything else is checked through
//! the REST API.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Client, TestApp, assert_error, cookie_value, password_of, send, set_cookie, spawn_app, within,
};
use crate::ws::Ws;

// ---- helpers ---------------------------------------------------------------

/// A realtime connection of one user over `/ws` ([`Ws`]), with the chat
/// steps these tests repeat.
struct Chatter {
    ws: Ws,
}

impl Chatter {
    /// Signs `username` in (a session of its own) and connects; waits for
    /// the `hello` frame, after which the user counts as online.
    async fn connect(app: &TestApp, username: &str) -> Chatter {
        let cookie = format!("kith={}", session_cookie(app, username).await);
        let origin = format!("http://{}", app.addr);
        let (mut ws, status) = Ws::connect(app.addr, Some(&cookie), Some(&origin))
            .await
            .expect("WebSocket connects");
        assert_eq!(status, 101);
        let hello = ws.next().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        assert_eq!(hello["user"], username, "{hello}");
        Chatter { ws }
    }

    async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        self.ws.wait_for(pred).await
    }

    async fn send_frame(&mut self, frame: Value) {
        self.ws.send(frame).await;
    }

    /// Sends a message and waits for its ack; returns the ack.
    async fn say(&mut self, conversation: &str, client_msg_id: &str, body: &str) -> Value {
        self.send_frame(json!({
            "type": "send",
            "conversation_id": conversation,
            "client_msg_id": client_msg_id,
            "body": body,
        }))
        .await;
        let ack = self
            .wait_for(|f| f["type"] == "ack" && f["client_msg_id"] == client_msg_id)
            .await;
        assert_eq!(ack["conversation_id"], conversation, "{ack}");
        assert!(ack["message_id"].is_string(), "{ack}");
        ack
    }

    /// Marks the conversation read up to `seq`; returns once the server has
    /// applied it (frames are handled in order, so the pong of a ping sent
    /// after it comes after it is committed).
    async fn read(&mut self, conversation: &str, seq: i64) {
        self.send_frame(json!({"type": "read", "conversation_id": conversation, "seq": seq}))
            .await;
        self.send_frame(json!({"type": "ping"})).await;
        self.wait_for(|f| f["type"] == "pong").await;
    }
}

/// A fresh session cookie value for an existing user (signs in with a bare
/// client, so the cookie can be put on the WebSocket handshake).
async fn session_cookie(app: &TestApp, username: &str) -> String {
    let c = app.bare_client();
    let (status, headers, body) = send(c.req(Method::POST, "/api/auth/login").json(&json!({
        "username": username,
        "password": password_of(username),
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "login {username}: {body}");
    cookie_value(set_cookie(&headers, "kith").expect("a session cookie")).to_string()
}

/// Makes sure the next generated id lies in a later millisecond than any
/// made so far (ids are ordered by millisecond, random within one), so
/// "newest first" has one right answer. Not a timing assertion.
async fn next_millisecond() {
    tokio::time::sleep(Duration::from_millis(3)).await;
}

async fn create(c: &Client, body: Value) -> (StatusCode, Value) {
    c.post("/api/conversations", body).await
}

/// Creates a conversation that must be new; returns its id.
async fn new_conversation(c: &Client, body: Value) -> String {
    let (status, v) = create(c, body).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["created"], true, "{v}");
    v["id"].as_str().expect("conversation id").to_string()
}

/// The direct conversation of `c` with `friend`.
async fn direct(c: &Client, friend: &str) -> String {
    let (status, v) = create(c, json!({"members": [friend]})).await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::OK,
        "{status}: {v}"
    );
    v["id"].as_str().expect("conversation id").to_string()
}

async fn conversations(c: &Client, query: &str) -> Value {
    let (status, v) = c.get(&format!("/api/conversations{query}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

fn items(page: &Value) -> &Vec<Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
}

fn conversation_ids(page: &Value) -> Vec<String> {
    items(page)
        .iter()
        .map(|c| c["id"].as_str().expect("conversation id").to_string())
        .collect()
}

/// One of `c`'s conversations as the list shows it.
async fn conversation(c: &Client, id: &str) -> Value {
    let page = conversations(c, "?limit=100").await;
    items(&page)
        .iter()
        .find(|x| x["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("conversation {id} not listed: {page}"))
}

/// Polls `c`'s view of a conversation until `pred` holds (bounded).
async fn conversation_until(c: &Client, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    within(async {
        loop {
            let conv = conversation(c, id).await;
            if pred(&conv) {
                return conv;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn messages(c: &Client, conversation: &str, query: &str) -> Value {
    let (status, v) = c
        .get(&format!(
            "/api/conversations/{conversation}/messages{query}"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{query}: {v}");
    v
}

fn seqs(page: &Value) -> Vec<i64> {
    items(page)
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

fn usernames(users: &Value) -> Vec<&str> {
    users
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {users}"))
        .iter()
        .map(|u| u["username"].as_str().expect("username"))
        .collect()
}

async fn notifications(c: &Client) -> Value {
    let (status, v) = c.get("/api/notifications?limit=100").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["unread"].is_i64(), "{v}");
    v
}

fn of_kind<'a>(page: &'a Value, kind: &str) -> Vec<&'a Value> {
    items(page).iter().filter(|n| n["kind"] == kind).collect()
}

/// Polls `c`'s notifications until one satisfies `pred` (they are stored in
/// the background); returns it.
async fn wait_notification(c: &Client, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let found = tokio::time::timeout(crate::helpers::TIMEOUT, async {
        loop {
            let page = notifications(c).await;
            if let Some(n) = items(&page).iter().find(|n| pred(n)) {
                return n.clone();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    match found {
        Ok(n) => n,
        Err(_) => panic!(
            "no {what} notification arrived in time; notifications: {}",
            notifications(c).await
        ),
    }
}

async fn user_id(c: &Client) -> String {
    let (status, v) = c.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["user"]["id"].as_str().expect("user id").to_string()
}

async fn mark_read(c: &Client, body: Value) {
    let (status, v) = c.post("/api/notifications/read", body).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
}

// ---- conversations ---------------------------------------------------------

#[tokio::test]
async fn a_direct_conversation_is_one_per_pair() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    alice.befriend(&bob, "bob").await;
    alice.befriend(&carol, "carol").await;

    let (status, v) = create(&alice, json!({"members": ["bob"]})).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["created"], true, "{v}");
    let id = v["id"].as_str().expect("id").to_string();

    // Again, from either side: the same one.
    let (status, v) = create(&alice, json!({"members": ["bob"]})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"id": id, "created": false}));
    let (status, v) = create(&bob, json!({"members": ["alice"]})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"id": id, "created": false}));

    // Another friend: another conversation.
    let with_carol = new_conversation(&alice, json!({"members": ["carol"]})).await;
    assert_ne!(with_carol, id);

    let conv = conversation(&bob, &id).await;
    assert_eq!(conv["kind"], "direct", "{conv}");
    assert_eq!(conv["title"], Value::Null, "{conv}");
    assert_eq!(usernames(&conv["members"]), ["alice", "bob"], "{conv}");
}

#[tokio::test]
async fn a_titled_or_larger_conversation_is_a_new_group_each_time() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    alice.befriend(&bob, "bob").await;
    alice.befriend(&carol, "carol").await;

    let g1 = new_conversation(&alice, json!({"members": ["bob"], "title": "Trip"})).await;
    let g2 = new_conversation(&alice, json!({"members": ["bob"], "title": "Trip"})).await;
    assert_ne!(g1, g2);
    let d = new_conversation(&alice, json!({"members": ["bob"]})).await;
    assert!(d != g1 && d != g2, "a group is not the direct conversation");
    let g3 = new_conversation(&alice, json!({"members": ["bob", "carol"]})).await;
    let long = "t".repeat(100);
    let g4 = new_conversation(&alice, json!({"members": ["carol"], "title": long})).await;

    let conv = conversation(&bob, &g1).await;
    assert_eq!(conv["kind"], "group", "{conv}");
    assert_eq!(conv["title"], "Trip", "{conv}");
    assert_eq!(usernames(&conv["members"]), ["alice", "bob"], "{conv}");
    let conv = conversation(&carol, &g3).await;
    assert_eq!(conv["kind"], "group", "{conv}");
    assert_eq!(conv["title"], Value::Null, "{conv}");
    assert_eq!(usernames(&conv["members"]), ["alice", "bob", "carol"]);
    let conv = conversation(&carol, &g4).await;
    assert_eq!(conv["kind"], "group", "{conv}");
    assert_eq!(conv["title"], long, "{conv}");
}

#[tokio::test]
async fn creating_a_conversation_checks_its_members_and_title() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.user("mallory").await;
    alice.befriend(&bob, "bob").await;

    // Not a friend, alone or among friends.
    for members in [json!(["mallory"]), json!(["bob", "mallory"])] {
        let (status, v) = create(&alice, json!({"members": members})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{members}: {v}");
        assert_error(&v, "forbidden");
    }
    // Unknown users, nobody, only yourself, too many.
    let too_many: Vec<String> = (0..101).map(|i| format!("user{i}")).collect();
    for members in [
        json!(["nobody"]),
        json!(["bob", "nobody"]),
        json!([]),
        json!(["alice"]),
        json!(too_many),
    ] {
        let (status, v) = create(&alice, json!({"members": members})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{members}: {v}");
        assert_error(&v, "invalid");
    }
    // Bad titles.
    let long = "t".repeat(101);
    for title in ["", "   ", long.as_str(), "a\u{7}b"] {
        let (status, v) = create(&alice, json!({"members": ["bob"], "title": title})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{title:?}: {v}");
        assert_error(&v, "invalid");
    }
    // Wrong shapes.
    for body in [
        json!({}),
        json!({"members": "bob"}),
        json!({"members": ["bob"], "extra": 1}),
    ] {
        let (status, v) = create(&alice, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }
    // None of that created anything.
    assert!(items(&conversations(&alice, "").await).is_empty());
    assert!(items(&conversations(&bob, "").await).is_empty());

    // Signed out.
    let (status, v) = create(&app.client(), json!({"members": ["bob"]})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_error(&v, "unauthorized");
    let (status, _) = app.client().get("/api/conversations").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn listing_conversations_shows_only_yours_and_pages() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let eve = app.user("eve").await;
    alice.befriend(&bob, "bob").await;
    alice.befriend(&carol, "carol").await;
    alice.befriend(&dave, "dave").await;

    let with_bob = new_conversation(&alice, json!({"members": ["bob"]})).await;
    let with_carol = new_conversation(&alice, json!({"members": ["carol"]})).await;
    let with_dave = new_conversation(&alice, json!({"members": ["dave"]})).await;
    let trip = new_conversation(&alice, json!({"members": ["bob"], "title": "Trip"})).await;
    let three = new_conversation(&alice, json!({"members": ["bob", "carol"]})).await;
    let all: HashSet<String> = [&with_bob, &with_carol, &with_dave, &trip, &three]
        .into_iter()
        .cloned()
        .collect();

    // Each sees exactly their own.
    let mine = |page: &Value| conversation_ids(page).into_iter().collect::<HashSet<_>>();
    assert_eq!(mine(&conversations(&alice, "").await), all);
    assert_eq!(
        mine(&conversations(&bob, "").await),
        HashSet::from([with_bob.clone(), trip.clone(), three.clone()])
    );
    assert_eq!(
        mine(&conversations(&carol, "").await),
        HashSet::from([with_carol.clone(), three.clone()])
    );
    assert_eq!(
        mine(&conversations(&dave, "").await),
        HashSet::from([with_dave.clone()])
    );
    let page = conversations(&eve, "").await;
    assert!(items(&page).is_empty(), "{page}");
    assert_eq!(page["next_cursor"], Value::Null);

    // The shape of one, members as users.
    let conv = conversation(&carol, &three).await;
    assert_eq!(conv["kind"], "group");
    assert_eq!(conv["title"], Value::Null);
    assert_eq!(conv["last_seq"], 0);
    assert_eq!(conv["unread"], 0);
    assert_eq!(conv["last_message"], Value::Null);
    let members = conv["members"].as_array().expect("members");
    assert_eq!(usernames(&conv["members"]), ["alice", "bob", "carol"]);
    for m in members {
        assert!(m["id"].is_string(), "{m}");
        assert!(m["display_name"].is_string(), "{m}");
        assert!(m["created_at"].is_string(), "{m}");
        assert!(m.get("password_hash").is_none(), "{m}");
    }

    // Pages of 2 cover all 5 once.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    let mut sizes = Vec::new();
    loop {
        let page = conversations(&alice, &query).await;
        sizes.push(items(&page).len());
        seen.extend(conversation_ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&cursor={c}"),
            None => break,
        }
        assert!(sizes.len() < 10, "paging does not end: {sizes:?}");
    }
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), all);

    // A message makes the oldest one the most recently active.
    next_millisecond().await;
    let mut ws = Chatter::connect(&app, "alice").await;
    ws.say(&with_bob, "hello-bob", "hello bob").await;
    let page = conversations(&alice, "?limit=2").await;
    let first = &items(&page)[0];
    assert_eq!(first["id"], with_bob.as_str(), "{page}");
    assert_eq!(first["last_seq"], 1);
    assert_eq!(first["last_message"]["body"], "hello bob");
    assert_eq!(first["last_message"]["sender"], "alice");
    assert_eq!(
        conversation_ids(&conversations(&bob, "").await)[0],
        with_bob
    );

    // Bad paging.
    for q in [
        "?limit=0",
        "?limit=101",
        "?cursor=!!",
        "?limit=x",
        "?nope=1",
    ] {
        let (status, v) = alice.get(&format!("/api/conversations{q}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {v}");
    }
}

// ---- messages --------------------------------------------------------------

#[tokio::test]
async fn messages_page_forwards_backwards_and_from_the_end() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    alice.befriend(&bob, "bob").await;
    let conv = direct(&alice, "bob").await;

    let page = messages(&alice, &conv, "").await;
    assert!(items(&page).is_empty(), "{page}");
    assert_eq!(page["has_more"], false);
    assert_eq!(page["last_seq"], 0);

    let mut ws = Chatter::connect(&app, "alice").await;
    let mut acks = Vec::new();
    for i in 1..=5 {
        let ack = ws
            .say(&conv, &format!("p{i}"), &format!("message {i}"))
            .await;
        assert_eq!(ack["seq"], i, "{ack}");
        acks.push(ack);
    }

    // Everything, by default in seq order; both members see the same.
    let page = messages(&alice, &conv, "").await;
    assert_eq!(seqs(&page), [1, 2, 3, 4, 5]);
    assert_eq!(page["has_more"], false);
    assert_eq!(page["last_seq"], 5);
    assert_eq!(page, messages(&bob, &conv, "").await);
    for (m, ack) in items(&page).iter().zip(&acks) {
        let seq = m["seq"].as_i64().expect("seq");
        assert_eq!(m["conversation_id"], conv.as_str(), "{m}");
        assert_eq!(m["message_id"], ack["message_id"], "{m}");
        assert_eq!(m["sender"], "alice", "{m}");
        assert_eq!(m["body"], format!("message {seq}"), "{m}");
        assert_eq!(m["client_msg_id"], format!("p{seq}"), "{m}");
        assert!(
            m["created_at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{m}"
        );
    }

    // The latest `limit`.
    let page = messages(&bob, &conv, "?limit=2").await;
    assert_eq!(seqs(&page), [4, 5]);
    assert_eq!(page["has_more"], true);
    assert_eq!(page["last_seq"], 5);
    let page = messages(&bob, &conv, "?limit=5").await;
    assert_eq!(seqs(&page), [1, 2, 3, 4, 5]);
    assert_eq!(page["has_more"], false);

    // Catching up: after a seq, oldest first.
    for (q, want, more) in [
        ("?after_seq=0&limit=2", vec![1, 2], true),
        ("?after_seq=1&limit=2", vec![2, 3], true),
        ("?after_seq=3&limit=2", vec![4, 5], false),
        ("?after_seq=2", vec![3, 4, 5], false),
        ("?after_seq=5", vec![], false),
        ("?after_seq=50", vec![], false),
    ] {
        let page = messages(&bob, &conv, q).await;
        assert_eq!(seqs(&page), want, "{q}: {page}");
        assert_eq!(page["has_more"], more, "{q}: {page}");
        assert_eq!(page["last_seq"], 5, "{q}: {page}");
    }

    // Scrolling back: the newest before a seq, in seq order.
    for (q, want, more) in [
        ("?before_seq=4&limit=2", vec![2, 3], true),
        ("?before_seq=6&limit=2", vec![4, 5], true),
        ("?before_seq=3&limit=2", vec![1, 2], false),
        ("?before_seq=3&limit=5", vec![1, 2], false),
        ("?before_seq=1", vec![], false),
    ] {
        let page = messages(&bob, &conv, q).await;
        assert_eq!(seqs(&page), want, "{q}: {page}");
        assert_eq!(page["has_more"], more, "{q}: {page}");
        assert_eq!(page["last_seq"], 5, "{q}: {page}");
    }
}

#[tokio::test]
async fn messages_are_for_members_and_parameters_are_checked() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    alice.befriend(&bob, "bob").await;
    alice.befriend(&carol, "carol").await;
    let conv = direct(&alice, "bob").await;
    let mut ws = Chatter::connect(&app, "alice").await;
    ws.say(&conv, "m1", "for bob only").await;

    // A friend of a member is not a member; nor are the signed out.
    let path = format!("/api/conversations/{conv}/messages");
    let (status, v) = carol.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");
    let (status, v) = app.client().get(&path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");

    // Ids of no conversation: garbage, or a real id of something else.
    let not_a_conversation = user_id(&alice).await;
    for id in ["!!", "zzzzzzzzzzzzzz", not_a_conversation.as_str()] {
        let (status, v) = alice
            .get(&format!("/api/conversations/{id}/messages"))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {v}");
    }

    // Bounds.
    for q in [
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?limit=x",
        "?after_seq=-1",
        "?before_seq=0",
        "?after_seq=x",
        "?nope=1",
    ] {
        let (status, v) = bob.get(&format!("{path}{q}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert_error(&v, "bad_request");
    }
    for q in ["?limit=1", "?limit=100", "?after_seq=0", "?before_seq=1"] {
        messages(&bob, &conv, q).await;
    }
    assert_eq!(
        items(&messages(&bob, &conv, "").await)[0]["body"],
        "for bob only"
    );
}

#[tokio::test]
async fn unread_counts_follow_messages_and_reads() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    alice.befriend(&bob, "bob").await;
    let conv = direct(&alice, "bob").await;

    let mut a = Chatter::connect(&app, "alice").await;
    for i in 1..=3 {
        a.say(&conv, &format!("u{i}"), &format!("unread {i}")).await;
    }
    // Sending is reading for the sender; the other member has 3 unread.
    let mine = conversation(&alice, &conv).await;
    assert_eq!(mine["unread"], 0, "{mine}");
    assert_eq!(mine["last_seq"], 3, "{mine}");
    let theirs = conversation(&bob, &conv).await;
    assert_eq!(theirs["unread"], 3, "{theirs}");
    assert_eq!(theirs["last_seq"], 3, "{theirs}");
    let last = &theirs["last_message"];
    assert_eq!(last["seq"], 3, "{theirs}");
    assert_eq!(last["body"], "unread 3", "{theirs}");
    assert_eq!(last["sender"], "alice", "{theirs}");
    assert_eq!(last["conversation_id"], conv.as_str(), "{theirs}");

    // Bob reads up to 2.
    let mut b = Chatter::connect(&app, "bob").await;
    b.read(&conv, 2).await;
    let theirs = conversation_until(&bob, &conv, |c| c["unread"] != 3).await;
    assert_eq!(theirs["unread"], 1, "{theirs}");
    assert_eq!(conversation(&alice, &conv).await["unread"], 0);

    // Never backwards...
    b.read(&conv, 1).await;
    assert_eq!(conversation(&bob, &conv).await["unread"], 1);
    // ...and never past the last message.
    b.read(&conv, 99).await;
    let theirs = conversation_until(&bob, &conv, |c| c["unread"] != 1).await;
    assert_eq!(theirs["unread"], 0, "{theirs}");
    a.say(&conv, "u4", "unread 4").await;
    let theirs = conversation(&bob, &conv).await;
    assert_eq!(
        theirs["unread"], 1,
        "read past the end must not count ahead"
    );
    assert_eq!(theirs["last_seq"], 4);

    // Bob answers: his unread goes to 0 (he read up to his own), Alice's
    // up to 1.
    b.say(&conv, "b1", "hi alice").await;
    let theirs = conversation(&bob, &conv).await;
    assert_eq!(theirs["unread"], 0, "{theirs}");
    assert_eq!(theirs["last_message"]["sender"], "bob");
    let mine = conversation(&alice, &conv).await;
    assert_eq!(mine["unread"], 1, "{mine}");
    assert_eq!(mine["last_seq"], 5, "{mine}");
}

/// How far `user` has read, as `v` (a conversation or a `synced` frame) says.
fn read_of(v: &Value, user: &str) -> i64 {
    v["read"]
        .as_array()
        .unwrap_or_else(|| panic!("no read positions: {v}"))
        .iter()
        .find(|r| r["user"] == user)
        .unwrap_or_else(|| panic!("{user} has no read position: {v}"))["seq"]
        .as_i64()
        .expect("a seq")
}

#[tokio::test]
async fn read_positions_survive_a_reload_and_a_new_connection() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    alice.befriend(&bob, "bob").await;
    alice.befriend(&carol, "carol").await;
    let group = new_conversation(
        &alice,
        json!({"members": ["bob", "carol"], "title": "dinner"}),
    )
    .await;
    let mut a = Chatter::connect(&app, "alice").await;
    for i in 1..=3 {
        a.say(&group, &format!("g{i}"), &format!("message {i}"))
            .await;
    }
    // Nobody else has read anything: the sender has read her own.
    let listed = conversation(&alice, &group).await;
    assert_eq!(read_of(&listed, "alice"), 3, "{listed}");
    assert_eq!(read_of(&listed, "bob"), 0, "{listed}");
    assert_eq!(read_of(&listed, "carol"), 0, "{listed}");

    // Bob reads 2 and carol 3, each live; alice is told live too.
    let mut b = Chatter::connect(&app, "bob").await;
    b.read(&group, 2).await;
    let live = a
        .wait_for(|f| f["type"] == "read" && f["user"] == "bob")
        .await;
    assert_eq!(live["seq"], 2, "{live}");
    let mut c = Chatter::connect(&app, "carol").await;
    c.read(&group, 3).await;

    // A reload (the list) says the same, to every member...
    for who in [&alice, &bob, &carol] {
        let listed = conversation_until(who, &group, |v| read_of(v, "carol") == 3).await;
        assert_eq!(read_of(&listed, "bob"), 2, "{listed}");
        assert_eq!(read_of(&listed, "alice"), 3, "{listed}");
    }
    // ...and so does a new connection's sync (another tab or device),
    // which never saw the live frames.
    let mut other_tab = Chatter::connect(&app, "alice").await;
    other_tab
        .send_frame(json!({"type": "sync", "conversation_id": group, "after_seq": 0}))
        .await;
    let synced = other_tab.wait_for(|f| f["type"] == "synced").await;
    assert_eq!(synced["last_seq"], 3, "{synced}");
    assert_eq!(read_of(&synced, "bob"), 2, "{synced}");
    assert_eq!(read_of(&synced, "carol"), 3, "{synced}");
    assert_eq!(read_of(&synced, "alice"), 3, "{synced}");

    // A read position never goes back, whatever a stale client sends.
    b.read(&group, 1).await;
    assert_eq!(read_of(&conversation(&alice, &group).await, "bob"), 2);
}

// ---- notifications ---------------------------------------------------------

#[tokio::test]
async fn requests_likes_and_comments_notify_newest_first() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;

    let page = notifications(&alice).await;
    assert!(items(&page).is_empty(), "{page}");
    assert_eq!(page["unread"], 0);
    assert_eq!(page["next_cursor"], Value::Null);

    // A friend request, to the addressee.
    let (status, v) = bob
        .post("/api/friends/requests", json!({"username": "alice"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let request = v["id"].as_str().expect("request id").to_string();
    let n = wait_notification(&alice, "friend_request", |n| n["kind"] == "friend_request").await;
    assert_eq!(n["actor"]["username"], "bob", "{n}");
    assert!(n["actor"]["id"].is_string(), "{n}");
    assert_eq!(n["subject_id"], request.as_str(), "{n}");
    assert_eq!(n["read"], false, "{n}");
    assert!(n["id"].is_string() && n["created_at"].is_string(), "{n}");

    // A like, to the author; liking your own post is no news.
    next_millisecond().await;
    let post = alice.new_post("a post", "public").await;
    let (status, v) = alice.put(&format!("/api/posts/{post}/like")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = carol.put(&format!("/api/posts/{post}/like")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let n = wait_notification(&alice, "like", |n| n["kind"] == "like").await;
    assert_eq!(n["actor"]["username"], "carol", "{n}");
    assert_eq!(n["subject_id"], post.as_str(), "{n}");
    assert_eq!(n["read"], false, "{n}");
    // It names the post, quoted.
    assert_eq!(n["post"]["id"], post.as_str(), "{n}");
    assert_eq!(n["post"]["excerpt"], "a post", "{n}");
    assert_eq!(n["comment"], Value::Null, "{n}");

    // A comment, to the author.
    next_millisecond().await;
    let comment = bob.new_comment(&post, "nice").await;
    let n = wait_notification(&alice, "comment", |n| n["kind"] == "comment").await;
    assert_eq!(n["actor"]["username"], "bob", "{n}");
    assert_eq!(n["subject_id"], post.as_str(), "{n}");
    // It names the post and quotes the comment.
    assert_eq!(n["post"]["excerpt"], "a post", "{n}");
    assert_eq!(n["comment"]["id"], comment.as_str(), "{n}");
    assert_eq!(n["comment"]["excerpt"], "nice", "{n}");

    // Newest first; nothing from alice herself; the others got none.
    let page = notifications(&alice).await;
    let kinds: Vec<&str> = items(&page)
        .iter()
        .map(|n| n["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["comment", "like", "friend_request"], "{page}");
    assert!(
        items(&page)
            .iter()
            .all(|n| n["actor"]["username"] != "alice"),
        "{page}"
    );
    assert_eq!(page["unread"], 3);
    assert_eq!(page["next_cursor"], Value::Null);
    for other in [&bob, &carol] {
        let page = notifications(other).await;
        assert!(items(&page).is_empty(), "{page}");
        assert_eq!(page["unread"], 0);
    }

    // Pages.
    let all = crate::helpers::ids(&page);
    let mut seen = Vec::new();
    let mut query = "?limit=1".to_string();
    loop {
        let (status, p) = alice.get(&format!("/api/notifications{query}")).await;
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(items(&p).len(), 1, "{p}");
        assert_eq!(p["unread"], 3, "unread counts all, not the page: {p}");
        seen.extend(crate::helpers::ids(&p));
        match p["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=1&cursor={c}"),
            None => break,
        }
        assert!(seen.len() <= all.len(), "paging does not end: {seen:?}");
    }
    assert_eq!(seen, all);

    // Signed out.
    let (status, v) = app.client().get("/api/notifications").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_error(&v, "unauthorized");
}

#[tokio::test]
async fn notifications_quote_what_they_are_about_while_it_exists() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let long = format!("Dinner\n\nat   eight? {}", "word ".repeat(40));
    let post = alice.new_post(&long, "public").await;
    let comment = bob.new_comment(&post, "  count\nme in  ").await;
    let n = wait_notification(&alice, "comment", |n| n["kind"] == "comment").await;
    // One line, at most 80 characters, an ellipsis marking the cut.
    let excerpt = n["post"]["excerpt"].as_str().expect("post excerpt");
    assert!(excerpt.starts_with("Dinner at eight? word word"), "{n}");
    assert_eq!(excerpt.chars().count(), 80, "{n}");
    assert!(excerpt.ends_with('…'), "{n}");
    assert_eq!(n["comment"]["excerpt"], "count me in", "{n}");

    // A deleted comment is no longer quoted; the notification stays.
    let (status, v) = bob.delete(&format!("/api/comments/{comment}")).await;
    assert!(status.is_success(), "{status}: {v}");
    let page = notifications(&alice).await;
    let n = &items(&page)[0];
    assert_eq!(n["kind"], "comment", "{page}");
    assert_eq!(n["comment"], Value::Null, "{page}");
    assert_eq!(n["post"]["id"], post.as_str(), "{page}");
}

#[tokio::test]
async fn asking_back_notifies_the_first_asker_of_the_friendship() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    let (status, v) = alice
        .post("/api/friends/requests", json!({"username": "bob"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let request = v["id"].as_str().expect("request id").to_string();
    // Bob asking back accepts Alice's request.
    let (status, v) = bob
        .post("/api/friends/requests", json!({"username": "alice"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["status"], "accepted", "{v}");
    assert_eq!(v["id"], request.as_str(), "{v}");

    let n = wait_notification(&alice, "friend_accepted", |n| {
        n["kind"] == "friend_accepted"
    })
    .await;
    assert_eq!(n["actor"]["username"], "bob", "{n}");
    assert_eq!(n["subject_id"], request.as_str(), "{n}");
    assert_eq!(n["read"], false, "{n}");
}

#[tokio::test]
async fn accepting_a_request_notifies_its_sender() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;

    let (status, v) = alice
        .post("/api/friends/requests", json!({"username": "bob"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let request = v["id"].as_str().expect("request id").to_string();
    wait_notification(&bob, "friend_request", |n| n["kind"] == "friend_request").await;
    let (status, v) = bob
        .post_empty(&format!("/api/friends/requests/{request}/accept"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");

    let n = wait_notification(&alice, "friend_accepted", |n| {
        n["kind"] == "friend_accepted"
    })
    .await;
    assert_eq!(n["actor"]["username"], "bob", "{n}");
    assert_eq!(n["read"], false, "{n}");
    // The accepter is not told of their own accepting.
    let page = notifications(&bob).await;
    assert!(of_kind(&page, "friend_accepted").is_empty(), "{page}");
}

#[tokio::test]
async fn marking_notifications_read() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;

    // Alice: a like and a comment from Bob, a like from Carol. Bob: one.
    let post = alice.new_post("a post", "public").await;
    let bobs = bob.new_post("bob's post", "public").await;
    let (status, _) = carol.put(&format!("/api/posts/{bobs}/like")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bob.put(&format!("/api/posts/{post}/like")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = bob
        .post(
            &format!("/api/posts/{post}/comments"),
            json!({"body": "nice"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = carol.put(&format!("/api/posts/{post}/like")).await;
    assert_eq!(status, StatusCode::OK);
    let bobs_like = wait_notification(&bob, "like", |n| n["kind"] == "like").await;
    let like = wait_notification(&alice, "bob's like", |n| {
        n["kind"] == "like" && n["actor"]["username"] == "bob"
    })
    .await;
    let comment = wait_notification(&alice, "comment", |n| n["kind"] == "comment").await;
    wait_notification(&alice, "carol's like", |n| {
        n["kind"] == "like" && n["actor"]["username"] == "carol"
    })
    .await;
    assert_eq!(notifications(&alice).await["unread"], 3);
    assert_eq!(notifications(&bob).await["unread"], 1);

    let read_state = |page: &Value, id: &Value| -> Value {
        items(page)
            .iter()
            .find(|n| n["id"] == *id)
            .unwrap_or_else(|| panic!("{id} not listed: {page}"))["read"]
            .clone()
    };

    // One by id.
    mark_read(&alice, json!({"ids": [like["id"]]})).await;
    let page = notifications(&alice).await;
    assert_eq!(page["unread"], 2, "{page}");
    assert_eq!(read_state(&page, &like["id"]), true);
    assert_eq!(read_state(&page, &comment["id"]), false);
    assert_eq!(items(&page).len(), 3, "read ones stay listed");
    // Again: no change.
    mark_read(&alice, json!({"ids": [like["id"]]})).await;
    assert_eq!(notifications(&alice).await["unread"], 2);
    // An empty list marks none.
    mark_read(&alice, json!({"ids": []})).await;
    assert_eq!(notifications(&alice).await["unread"], 2);

    // Someone else's ids do nothing to them.
    let (status, v) = bob
        .post("/api/notifications/read", json!({"ids": [comment["id"]]}))
        .await;
    assert!(
        status == StatusCode::NO_CONTENT || status == StatusCode::NOT_FOUND,
        "{status}: {v}"
    );
    let page = notifications(&alice).await;
    assert_eq!(page["unread"], 2, "{page}");
    assert_eq!(read_state(&page, &comment["id"]), false);
    // (and Bob's own stays unread)
    let page = notifications(&bob).await;
    assert_eq!(page["unread"], 1, "{page}");
    assert_eq!(read_state(&page, &bobs_like["id"]), false);

    // Bad bodies change nothing.
    for body in [
        "{",
        "not json",
        r#"{"ids":"x"}"#,
        r#"{"ids":["!!"]}"#,
        r#"{"ids":[1]}"#,
        r#"{"nope":1}"#,
    ] {
        let (status, v) = alice
            .raw(
                Method::POST,
                "/api/notifications/read",
                "application/json",
                body,
            )
            .await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{body}: {status} {v}"
        );
        crate::helpers::error_code(&v);
    }
    assert_eq!(notifications(&alice).await["unread"], 2);

    // `{}` marks all of yours, and only yours.
    mark_read(&alice, json!({})).await;
    let page = notifications(&alice).await;
    assert_eq!(page["unread"], 0, "{page}");
    assert!(items(&page).iter().all(|n| n["read"] == true), "{page}");
    assert_eq!(notifications(&bob).await["unread"], 1);

    // No body at all marks all too.
    let (status, v) = bob.post_empty("/api/notifications/read").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let page = notifications(&bob).await;
    assert_eq!(page["unread"], 0, "{page}");
    assert_eq!(read_state(&page, &bobs_like["id"]), true);

    // A new one is unread again.
    let (status, _) = carol
        .post(
            &format!("/api/posts/{post}/comments"),
            json!({"body": "me too"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let n = wait_notification(&alice, "carol's comment", |n| {
        n["kind"] == "comment" && n["actor"]["username"] == "carol"
    })
    .await;
    assert_eq!(n["read"], false, "{n}");
    assert_eq!(notifications(&alice).await["unread"], 1);

    // Signed out.
    let (status, v) = app
        .client()
        .post("/api/notifications/read", json!({}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    let (status, _) = app.client().post_empty("/api/notifications/read").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(notifications(&alice).await["unread"], 1);
}

#[tokio::test]
async fn messages_notify_offline_members_once_per_conversation() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    alice.befriend(&bob, "bob").await;
    let conv = direct(&alice, "bob").await;
    let bobs_post = bob.new_post("bob's post", "public").await;

    // Bob has no live connection: three messages, one notification.
    let mut a = Chatter::connect(&app, "alice").await;
    for i in 1..=3 {
        a.say(&conv, &format!("n{i}"), &format!("note {i}")).await;
    }
    let n = wait_notification(&bob, "message", |n| n["kind"] == "message").await;
    assert_eq!(n["subject_id"], conv.as_str(), "{n}");
    assert_eq!(n["actor"]["username"], "alice", "{n}");
    assert_eq!(n["read"], false, "{n}");
    // A later notification, stored after every message's: by then all three
    // messages have had their turn.
    let (status, _) = alice.put(&format!("/api/posts/{bobs_post}/like")).await;
    assert_eq!(status, StatusCode::OK);
    wait_notification(&bob, "like", |n| n["kind"] == "like").await;
    let page = notifications(&bob).await;
    assert_eq!(of_kind(&page, "message").len(), 1, "{page}");
    // The sender is not notified of her own messages.
    assert!(of_kind(&notifications(&alice).await, "message").is_empty());

    // Once read, the next message notifies again.
    mark_read(&bob, json!({"ids": [n["id"]]})).await;
    a.say(&conv, "n4", "note 4").await;
    let second = wait_notification(&bob, "second message", |m| {
        m["kind"] == "message" && m["id"] != n["id"]
    })
    .await;
    assert_eq!(second["read"], false, "{second}");
    assert_eq!(second["subject_id"], conv.as_str(), "{second}");
    assert_eq!(second["actor"]["username"], "alice", "{second}");
    let page = notifications(&bob).await;
    assert_eq!(of_kind(&page, "message").len(), 2, "{page}");

    // Bob online: the message is delivered live, not notified.
    mark_read(&bob, json!({})).await;
    let mut b = Chatter::connect(&app, "bob").await;
    let ack = a.say(&conv, "n5", "note 5").await;
    let m = b
        .wait_for(|f| f["type"] == "message" && f["seq"] == ack["seq"])
        .await;
    assert_eq!(m["body"], "note 5", "{m}");
    let (status, v) = alice
        .post(
            &format!("/api/posts/{bobs_post}/comments"),
            json!({"body": "marker"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    wait_notification(&bob, "comment", |n| n["kind"] == "comment").await;
    let page = notifications(&bob).await;
    assert_eq!(of_kind(&page, "message").len(), 2, "{page}");
    assert_eq!(page["unread"], 1, "only the comment: {page}");
}
