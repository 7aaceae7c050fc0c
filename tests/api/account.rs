//! A user's account as a whole: exporting everything it owns, and deleting
//! it (with the password entered again).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{assert_error, password_of, spawn_app};
use crate::helpers::{direct, person};
use crate::media::{clip, id_num, media_dir, names_in, upload_ok, wait_ready};
use crate::ws::Ws;

fn usernames(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|c| c["username"].as_str().expect("username"))
        .collect()
}

/// Chat messages are sent over the socket; returns once acknowledged.
async fn say(ws: &mut Ws, conv: &str, cid: &str, body: &str) {
    ws.send(json!({"type": "send", "conversation_id": conv, "client_msg_id": cid, "body": body}))
        .await;
    let ack = ws.next_of("ack").await;
    assert_eq!(ack["client_msg_id"], cid, "{ack}");
}

#[tokio::test]
async fn the_export_holds_everything_the_user_owns_and_nothing_else() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let b = person(&app, "bob").await;
    let carol = app.user("carol").await;
    let _dave = app.user("dave").await;
    a.http.befriend(&b.http, "bob").await;
    let bobs = b.http.new_post("bob's post", "public").await;
    let mine = a.http.new_post("alice's own post", "friends").await;
    let (s, _) = a.http.put(&format!("/api/posts/{bobs}/like")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = a
        .http
        .post(
            &format!("/api/posts/{bobs}/comments"),
            json!({"body": "alice comments"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = b
        .http
        .post(
            &format!("/api/posts/{mine}/comments"),
            json!({"body": "bob comments"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = carol
        .post("/api/friends/requests", json!({"username": "alice"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = a
        .http
        .post("/api/friends/requests", json!({"username": "dave"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = a.http.put("/api/users/carol/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let conv = direct(&a.http, "bob").await;
    let mut alice = Ws::open(&app, &a).await;
    let mut bob = Ws::open(&app, &b).await;
    say(&mut alice, &conv, "a1", "hello from alice").await;
    say(&mut bob, &conv, "b1", "hello from bob").await;

    let res = a
        .http
        .req(Method::GET, "/api/me/export")
        .send()
        .await
        .expect("export");
    assert_eq!(res.status(), StatusCode::OK);
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .expect("a text header");
    assert_eq!(disposition, "attachment; filename=\"kith-alice.json\"");
    let text = res.text().await.expect("body");
    let x: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(x["format"], "kith-export/1");
    assert_eq!(x["user"]["username"], "alice");
    let posts = x["posts"].as_array().expect("a list");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["body"], "alice's own post");
    assert_eq!(posts[0]["comment_count"], 1);
    assert_eq!(x["comments"][0]["body"], "alice comments");
    assert_eq!(x["comments"].as_array().expect("a list").len(), 1);
    assert_eq!(x["likes"][0]["post_id"], json!(bobs));
    assert_eq!(usernames(&x["friends"]), vec!["bob"]);
    assert_eq!(usernames(&x["friend_requests_sent"]), vec!["dave"]);
    // Carol's request ended with the block.
    assert_eq!(x["friend_requests_received"], json!([]));
    assert_eq!(usernames(&x["blocked"]), vec!["carol"]);
    let convs = x["conversations"].as_array().expect("a list");
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0]["members"], json!(["alice", "bob"]));
    // Only her own messages: bob's are his.
    let msgs = convs[0]["messages"].as_array().expect("a list");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["body"], "hello from alice");
    assert!(!x["notifications"].as_array().expect("a list").is_empty());
    assert_eq!(x["sessions"].as_array().expect("a list").len(), 1);
    // Nothing secret, nothing of others'.
    for absent in [
        "password",
        "argon2",
        "bob's post",
        "bob comments",
        "hello from bob",
    ] {
        assert!(!text.contains(absent), "the export holds {absent:?}");
    }

    // Signed out, there is nothing to export.
    let (s, _) = app.client().get("/api/me/export").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_an_account_removes_what_it_owned_and_keeps_its_messages_for_others() {
    let app = spawn_app().await;
    let a = person(&app, "alice").await;
    let b = person(&app, "bob").await;
    a.http.befriend(&b.http, "bob").await;
    let media = upload_ok(&a.http, &clip(320, 240, 1).await).await;
    wait_ready(&a.http, &media).await;
    let (s, v) = a
        .http
        .post(
            "/api/posts",
            json!({"body": "alice's video", "visibility": "public", "media_id": media}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let alices = v["post"]["id"].as_str().expect("a string").to_string();
    let bobs = b.http.new_post("bob's post", "public").await;
    a.http.put(&format!("/api/posts/{bobs}/like")).await;
    a.http
        .post(
            &format!("/api/posts/{bobs}/comments"),
            json!({"body": "alice was here"}),
        )
        .await;
    b.http.put(&format!("/api/posts/{alices}/like")).await;
    let conv = direct(&a.http, "bob").await;
    let mut alice = Ws::open(&app, &a).await;
    let mut bob = Ws::open(&app, &b).await;
    say(&mut alice, &conv, "a1", "alice's last words").await;
    say(&mut bob, &conv, "b1", "bob answers").await;
    let other_device = app.login("alice").await;
    let (_, p) = b.http.get(&format!("/api/posts/{bobs}")).await;
    assert_eq!(p["post"]["like_count"], 1, "{p}");
    assert_eq!(p["post"]["comment_count"], 1, "{p}");
    let files = names_in(&media_dir(&app));
    assert!(
        files.iter().any(|f| f.ends_with(".mp4")),
        "no output: {files:?}"
    );

    // The password is needed, and must be right.
    let (s, v) = a.http.request(Method::DELETE, "/api/me", None).await;
    assert!(s.is_client_error(), "{s} {v}");
    let (s, v) = a
        .http
        .request(
            Method::DELETE,
            "/api/me",
            Some(json!({"password": "wrong password"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_error(&v, "wrong_password");
    let (s, _) = a.http.get("/api/me").await;
    assert_eq!(s, StatusCode::OK, "a refused deletion deletes nothing");

    let (s, v) = a
        .http
        .request(
            Method::DELETE,
            "/api/me",
            Some(json!({"password": password_of("alice")})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");

    // Every session and socket of hers has ended.
    let (code, _) = alice.closed().await;
    assert_ne!(code, 0, "the socket was dropped without a close frame");
    for c in [&a.http, &other_device] {
        let (s, _) = c.get("/api/me").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _) = b.http.get("/api/users/alice").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = b.http.get(&format!("/api/posts/{alices}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Bob's post lost her like and comment; bob lost a friend.
    let (_, p) = b.http.get(&format!("/api/posts/{bobs}")).await;
    assert_eq!(p["post"]["like_count"], 0, "{p}");
    assert_eq!(p["post"]["comment_count"], 0, "{p}");
    let (_, me) = b.http.get("/api/users/bob").await;
    assert_eq!(me["friend_count"], 0);

    // Her messages stay for bob, from no one.
    let (s, msgs) = b
        .http
        .get(&format!("/api/conversations/{conv}/messages"))
        .await;
    assert_eq!(s, StatusCode::OK, "{msgs}");
    let items = msgs["items"].as_array().expect("a list");
    assert_eq!(items.len(), 2, "{msgs}");
    let hers = items
        .iter()
        .find(|m| m["body"] == "alice's last words")
        .expect("her message is still there");
    assert!(hers["sender"].is_null(), "{hers}");

    // Bob has no one to write to there any more.
    bob.send(
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "b2", "body": "hello?"}),
    )
    .await;
    let e = bob.next_of("error").await;
    assert_eq!(e["code"], "forbidden", "{e}");

    // Nothing of hers is left in the database or the media dir.
    let m = id_num(&media);
    for (table, sql) in [
        (
            "users",
            "SELECT count(*) FROM users WHERE username = 'alice'".to_string(),
        ),
        (
            "media",
            format!("SELECT count(*) FROM media WHERE id = {m}"),
        ),
        (
            "posts",
            "SELECT count(*) FROM posts WHERE body LIKE 'alice%'".into(),
        ),
        (
            "comments",
            "SELECT count(*) FROM comments WHERE body LIKE 'alice%'".into(),
        ),
        ("likes", "SELECT count(*) FROM likes".into()),
        (
            "user_sessions",
            "SELECT count(*) FROM user_sessions WHERE user_id NOT IN (SELECT id FROM users)".into(),
        ),
        (
            "tower_sessions",
            "SELECT count(*) - (SELECT count(*) FROM user_sessions) FROM tower_sessions".into(),
        ),
        (
            "auth_addresses",
            "SELECT count(*) FROM auth_addresses WHERE account = 'alice'".into(),
        ),
    ] {
        assert_eq!(
            app.db_count(&sql).await,
            0,
            "{table} still holds alice's rows"
        );
    }
    let left: Vec<String> = names_in(&media_dir(&app))
        .into_iter()
        .chain(names_in(&media_dir(&app).join("uploads")))
        .filter(|f| f.contains(&media))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "media files left behind");

    // The name is free again, for a new account with nothing of hers.
    let again = app.user("alice").await;
    let (_, x) = again.get("/api/me/export").await;
    assert_eq!(x["posts"], json!([]));
    assert_eq!(x["conversations"], json!([]));
}
