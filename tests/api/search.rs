//! Full-text search over people and posts, its visibility rules, hostile
//! query text, and text that looks like SQL or HTML stored verbatim.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, assert_error, spawn_app};

async fn search(c: &Client, q: &str) -> Value {
    let (status, v) = c.get(&format!("/api/search?q={}", encode(q))).await;
    assert_eq!(status, StatusCode::OK, "{q}: {v}");
    v
}

fn usernames(v: &Value) -> Vec<String> {
    let mut names: Vec<String> = v["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users: {v}"))
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_string())
        .collect();
    names.sort();
    names
}

fn bodies(v: &Value) -> Vec<String> {
    let mut b: Vec<String> = v["posts"]
        .as_array()
        .unwrap_or_else(|| panic!("no posts: {v}"))
        .iter()
        .map(|p| p["body"].as_str().expect("body").to_string())
        .collect();
    b.sort();
    b
}

/// Percent-encodes everything but unreserved characters.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn finds_people_by_prefix() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let c = app.client();
    let (status, _) = c
        .post(
            "/api/auth/signup",
            json!({"username": "malcolm", "password": "long enough", "display_name": "Mal Reynolds"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.user("alfred").await;

    assert_eq!(usernames(&search(&alice, "al").await), ["alfred", "alice"]);
    assert_eq!(usernames(&search(&alice, "ALI").await), ["alice"]);
    assert_eq!(usernames(&search(&alice, "reyn").await), ["malcolm"]);
    assert_eq!(usernames(&search(&alice, "mal rey").await), ["malcolm"]);
    assert_eq!(
        usernames(&search(&alice, "zebra").await),
        Vec::<String>::new()
    );
    let v = search(&alice, "malcolm").await;
    assert_eq!(v["users"][0]["display_name"], "Mal Reynolds");
    assert!(v["users"][0].get("password_hash").is_none());
}

#[tokio::test]
async fn finds_visible_posts_only() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let friend = app.user("friend").await;
    let stranger = app.user("stranger").await;
    alice.befriend(&friend, "friend").await;

    alice
        .new_post("Gardening tips for tomatoes", "public")
        .await;
    alice
        .new_post("Secret tomato sauce recipe", "friends")
        .await;
    stranger
        .new_post("Tomatoes are fruit, strictly", "friends")
        .await;
    friend.new_post("Nothing about vegetables", "public").await;

    // Prefix match, case-insensitive.
    assert_eq!(
        bodies(&search(&friend, "tomat").await),
        ["Gardening tips for tomatoes", "Secret tomato sauce recipe"]
    );
    assert_eq!(
        bodies(&search(&stranger, "tomat").await),
        [
            "Gardening tips for tomatoes",
            "Tomatoes are fruit, strictly"
        ],
        "own friends-only post, others' public only"
    );
    // Words are all required.
    assert_eq!(
        bodies(&search(&friend, "secret TOMATO").await),
        ["Secret tomato sauce recipe"]
    );
    assert_eq!(
        bodies(&search(&friend, "secret garden").await),
        Vec::<String>::new()
    );
    // The stranger's friends-only post never shows to anyone else, however
    // the query is written.
    for q in [
        "strictly",
        "fruit",
        "\"fruit\"",
        "fruit*",
        "body:fruit",
        "fruit OR tomato",
    ] {
        for c in [&alice, &friend] {
            let v = search(c, q).await;
            assert!(
                !bodies(&v).iter().any(|b| b.contains("strictly")),
                "{q}: {v}"
            );
        }
    }
    let v = search(&friend, "tomat").await;
    let p = v["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .find(|p| p["visibility"] == "friends")
        .expect("the friends-only post");
    assert_eq!(p["author"]["username"], "alice");
    assert_eq!(p["liked_by_me"], false);

    // limit applies per kind.
    let v = search(&friend, "tomat").await;
    assert_eq!(v["posts"].as_array().map(Vec::len), Some(2));
    let (status, v) = friend.get("/api/search?q=tomat&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["posts"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn query_syntax_is_just_text() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    alice.new_post("near the body of the text", "public").await;
    alice
        .new_post("an \"quoted\" (bracketed) word*", "public")
        .await;

    let hostile = [
        "\"",
        "\"\"",
        "\"unterminated",
        "a\"b",
        "OR",
        "AND",
        "NOT",
        "a OR b",
        "a AND NOT b",
        "NEAR(",
        "NEAR(a b, 2)",
        "NEAR",
        "*",
        "a*",
        "**",
        "*a",
        "body:x",
        "body:",
        ":",
        "-body:x",
        "{body}: x",
        "(",
        ")",
        "()",
        "(a OR b",
        "a) OR (b",
        "^a",
        "a + b",
        "!!!",
        "  !!! ()  ",
        ".,;:'\"`~",
        "'); DROP TABLE posts;--",
        "\\",
        "%",
        "_",
        "a\u{0}b",
        "\u{0}",
        "\u{7f}",
        "é",
        "e\u{301}",
        "\u{301}",
        "\u{345}",
        "\u{200b}",
        "日本語",
        "🙂",
        "a🙂b",
        "x²",
        "ⅷ",
        "\u{fffd}",
        "\u{feff}a",
        "near\u{85}text",
        "rank",
        "posts_fts",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    ];
    for q in hostile {
        let (status, v) = alice.get(&format!("/api/search?q={}", encode(q))).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{q:?}: {status} {v}"
        );
        if status == StatusCode::OK {
            assert!(v["users"].is_array() && v["posts"].is_array(), "{q:?}: {v}");
        } else {
            assert_error(&v, "bad_request");
        }
    }
    // Operators are searched for as words.
    assert_eq!(
        bodies(&search(&alice, "near body").await),
        ["near the body of the text"]
    );
    assert_eq!(
        bodies(&search(&alice, "\"quoted\" (bracketed)").await),
        ["an \"quoted\" (bracketed) word*"]
    );
    assert_eq!(
        bodies(&search(&alice, "body:text").await),
        Vec::<String>::new()
    );
    assert_eq!(bodies(&search(&alice, "()").await), Vec::<String>::new());
    assert_eq!(
        usernames(&search(&alice, "!!!").await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn search_parameters_are_checked() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    for path in [
        "/api/search",
        "/api/search?q=",
        "/api/search?q=%20%20",
        "/api/search?limit=5",
        "/api/search?q=a&limit=0",
        "/api/search?q=a&limit=101",
        "/api/search?q=a&limit=x",
        "/api/search?q=a&other=1",
    ] {
        let (status, v) = alice.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_error(&v, "bad_request");
    }
    let long = "a".repeat(201);
    let (status, _) = alice.get(&format!("/api/search?q={long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let ok = "a ".repeat(100);
    let (status, _) = alice.get(&format!("/api/search?q={}", encode(&ok))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.client().get("/api/search?q=alice").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sql_and_html_text_is_stored_verbatim() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let texts = [
        "'); DROP TABLE posts;--",
        "<script>alert(1)</script>",
        "\" OR 1=1 --",
        "Robert'); DROP TABLE users; --",
        "&lt;b&gt; &amp; <img src=x onerror=alert(1)>",
        "{{7*7}} ${7*7} %s %n \\x00",
        "日本語 🙂 e\u{301}",
    ];
    for (i, text) in texts.iter().enumerate() {
        let id = alice.new_post(text, "public").await;
        let (_, v) = alice.get(&format!("/api/posts/{id}")).await;
        assert_eq!(v["post"]["body"], *text);
        let (status, v) = alice
            .post(&format!("/api/posts/{id}/comments"), json!({"body": text}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!(v["comment"]["body"], *text);
        let (_, v) = alice.get(&format!("/api/posts/{id}/comments")).await;
        assert_eq!(v["items"][0]["body"], *text);

        let c = app.client();
        let username = format!("user{i}");
        let (status, v) = c
            .post(
                "/api/auth/signup",
                json!({"username": username, "password": "long enough", "display_name": text}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!(v["user"]["display_name"], *text);
        let (_, v) = alice.get(&format!("/api/users/{username}")).await;
        assert_eq!(v["user"]["display_name"], *text);
    }
    // Every post is still there (no table was dropped) and searchable.
    let (_, me) = alice.get("/api/users/alice").await;
    assert_eq!(me["post_count"], texts.len());
    let v = search(&alice, "DROP TABLE").await;
    assert_eq!(
        bodies(&v),
        ["'); DROP TABLE posts;--", "Robert'); DROP TABLE users; --"]
    );
    assert_eq!(usernames(&v), ["user0", "user3"]);
    let v = search(&alice, "script").await;
    assert_eq!(bodies(&v), ["<script>alert(1)</script>"]);
    // Responses are JSON, never HTML.
    let (status, headers, _) =
        crate::helpers::send(alice.req(reqwest::Method::GET, "/api/search?q=script")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
}
