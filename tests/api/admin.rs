//! `kith admin user ...` as a real child process beside a running server:
//! listing accounts, bans (sessions end, sockets close, sign-in refused),
//! admins removing anyone's posts and comments, and bad input.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, assert_error, password_of, spawn_app, within};
use crate::helpers::{person, ticket, wt_connect};
use crate::wait::{TIMEOUT, eventually};
use crate::ws::Ws;

const KITH: &str = env!("CARGO_BIN_EXE_kith");

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `kith admin user ARGS --db DB`.
async fn admin(db: &Path, args: &[&str]) -> Run {
    let out = within(
        tokio::process::Command::new(KITH)
            .args(["admin", "user"])
            .args(args)
            .arg("--db")
            .arg(db)
            .env("RUST_LOG", "warn")
            // Errors stay one line even with backtraces asked for.
            .env("RUST_BACKTRACE", "1")
            .env_remove("KITH_DB")
            .env_remove("KITH_DATA_DIR")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("run kith admin");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a command that must succeed; returns what it printed.
async fn admin_ok(db: &Path, args: &[&str]) -> String {
    let run = admin(db, args).await;
    assert!(run.ok, "kith admin user {args:?}: {}", run.stderr);
    run.stdout
}

/// Runs a command that must fail; returns its error line.
async fn admin_err(db: &Path, args: &[&str]) -> String {
    let run = admin(db, args).await;
    assert!(
        !run.ok,
        "kith admin user {args:?} succeeded: {}",
        run.stdout
    );
    let err = run.stderr.trim().to_string();
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn db_of(app: &TestApp) -> PathBuf {
    app.data_dir.join("kith.db")
}

/// The `list` line about `username`.
fn line_of<'a>(out: &'a str, username: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(username))
        .unwrap_or_else(|| panic!("{username} not listed:\n{out}"))
}

fn listed(out: &str) -> Vec<&str> {
    out.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect()
}

async fn my_id(c: &Client) -> String {
    let (status, v) = c.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["user"]["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn list_shows_accounts_with_their_state() {
    let app = spawn_app().await;
    let db = db_of(&app);
    let alice = app.client();
    let (status, v) = alice
        .post(
            "/api/auth/signup",
            json!({"username": "alice", "password": password_of("alice"),
                   "display_name": "Alice Liddell"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let bob = app.user("bob").await;
    let _carol = app.user("carol").await;
    alice.new_post("hello", "public").await;
    alice.new_post("again", "public").await;
    alice.befriend(&bob, "bob").await;

    let out = admin_ok(&db, &["list"]).await;
    let header = out.lines().next().expect("a header");
    for column in [
        "id",
        "username",
        "display name",
        "created",
        "admin",
        "banned",
        "posts",
        "friends",
    ] {
        assert!(header.contains(column), "{column} missing: {header}");
    }
    // Newest first.
    assert_eq!(listed(&out), ["carol", "bob", "alice"], "{out}");
    let line = line_of(&out, "alice");
    assert!(line.starts_with(&my_id(&alice).await), "{line}");
    assert!(line.contains("Alice Liddell"), "{line}");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[cols.len() - 2..], ["2", "1"], "posts, friends: {line}");
    assert!(line.contains(" - "), "neither admin nor banned: {line}");

    admin_ok(&db, &["make-admin", "carol"]).await;
    admin_ok(&db, &["ban", "bob"]).await;
    let out = admin_ok(&db, &["list", "--admins"]).await;
    assert_eq!(listed(&out), ["carol"], "{out}");
    assert!(line_of(&out, "carol").contains("yes"), "{out}");
    let out = admin_ok(&db, &["list", "--banned"]).await;
    assert_eq!(listed(&out), ["bob"], "{out}");
    // The ban's time, as RFC 3339.
    let year = time::OffsetDateTime::now_utc().year().to_string();
    let bob_line = line_of(&out, "bob");
    assert_eq!(bob_line.matches(&year).count(), 2, "{bob_line}");
    let out = admin_ok(&db, &["list", "--banned", "--admins"]).await;
    assert!(listed(&out).is_empty(), "{out}");
    let out = admin_ok(&db, &["list", "--limit", "2"]).await;
    assert_eq!(listed(&out), ["carol", "bob"], "{out}");
}

#[tokio::test]
async fn a_ban_ends_the_sessions_closes_the_sockets_and_refuses_sign_in() {
    let app = spawn_app().await;
    let db = db_of(&app);
    let alice = person(&app, "alice").await;
    let alice_elsewhere = app.login("alice").await;
    let bob = person(&app, "bob").await;
    let mut alice_ws = Ws::open(&app, &alice).await;
    let mut bob_ws = Ws::open(&app, &bob).await;
    // An app's token is a session too, and keeps no cookie to clear.
    let token = crate::accounts::token_for(&app, "alice", "kith for Android").await;
    let phone = crate::accounts::app_client(&app.url(""), &token);

    let out = admin_ok(&db, &["ban", "alice"]).await;
    assert!(out.contains("alice is banned"), "{out}");

    // Every session ended in the ban's transaction; the command line is
    // another process, so the server learns of it from the log of ended
    // sessions, which it reads four times a second: from then on every
    // request of each is refused.
    // The first refusal says why, so that the web client can say so too
    // (it also clears the cookie, as any refused session's does).
    for c in [&alice.http, &alice_elsewhere] {
        let v = refused_soon(c).await;
        assert_error(&v, "banned");
        let (status, _) = c.post_empty("/api/realtime/ticket").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, v) = phone.get("/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&v, "banned");
    // The open socket is closed by the node's ban watcher.
    let (code, reason) = alice_ws.closed().await;
    assert_eq!((code, reason.as_str()), (4000, "account banned"));

    // The right password gets a clear refusal; a wrong one learns nothing.
    let c = app.client();
    let (status, v) = c.login("alice", &password_of("alice")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    assert_error(&v, "forbidden");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("banned")),
        "{v}"
    );
    let (status, v) = c.login("alice", "not her password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_error(&v, "bad_credentials");
    let (status, _) = c.get("/api/me").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a refused sign-in left a session"
    );

    // Bob is untouched: still signed in, still connected.
    let (status, _) = bob.http.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
    bob_ws.send(json!({"type": "dance"})).await;
    let e = bob_ws.next_of("error").await;
    assert_eq!(e["code"], "bad_frame", "{e}");

    // Unbanned, alice signs in again (her old sessions stay ended).
    let out = admin_ok(&db, &["unban", "alice"]).await;
    assert!(out.contains("alice is no longer banned"), "{out}");
    let (status, v) = c.login("alice", &password_of("alice")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _) = c.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = alice.http.get("/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The token's session stays ended, but no longer by a standing ban.
    let (status, v) = phone.get("/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&v, "unauthorized");
    let again = app.login("alice").await;
    let (status, v) = again.post_empty("/api/realtime/ticket").await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// Waits until `c`'s session is refused: a session ended by another
/// process leaves the server's memory when it reads the log (every 250 ms).
/// Returns the refusal's body.
async fn refused_soon(c: &Client) -> Value {
    eventually("the ended session is refused", TIMEOUT, || async {
        let (status, v) = c.get("/api/me").await;
        (status == StatusCode::UNAUTHORIZED).then_some(v)
    })
    .await
}

#[tokio::test]
async fn users_are_named_by_username_or_id() {
    let app = spawn_app().await;
    let db = db_of(&app);
    let alice = app.user("alice").await;
    let id = my_id(&alice).await;
    let out = admin_ok(&db, &["ban", &id]).await;
    assert!(out.contains("alice is banned"), "{out}");
    refused_soon(&alice).await;
    // Usernames are unique regardless of case.
    admin_ok(&db, &["unban", "ALICE"]).await;
    app.login("alice").await;
}

#[tokio::test]
async fn an_admin_removes_anyones_posts_and_comments() {
    let app = spawn_app().await;
    let db = db_of(&app);
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let mod_ = app.user("moderator").await;
    alice.befriend(&bob, "bob").await;
    let public = alice.new_post("public", "public").await;
    let private = alice.new_post("for friends", "friends").await;
    let comment = |post: String| {
        let bob = bob.clone();
        async move {
            let (status, v) = bob
                .post(
                    &format!("/api/posts/{post}/comments"),
                    json!({"body": "a comment"}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{v}");
            v["comment"]["id"].as_str().expect("comment id").to_string()
        }
    };
    let on_public = comment(public.clone()).await;
    let on_private = comment(private.clone()).await;

    let (status, v) = mod_.get("/api/me").await;
    assert_eq!(
        (status, &v["user"]["admin"]),
        (StatusCode::OK, &json!(false))
    );
    // Not an admin yet: neither the author of the post nor of the comment.
    let (status, v) = mod_.delete(&format!("/api/comments/{on_public}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = mod_.delete(&format!("/api/posts/{public}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, _) = mod_.delete(&format!("/api/posts/{private}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unseen post stays unseen");

    let out = admin_ok(&db, &["make-admin", "moderator"]).await;
    assert!(out.contains("moderator is now an admin"), "{out}");
    let (status, v) = mod_.get("/api/me").await;
    assert_eq!(
        (status, &v["user"]["admin"]),
        (StatusCode::OK, &json!(true))
    );
    assert_eq!(v["user"]["username"], "moderator", "{v}");

    let (status, v) = mod_.delete(&format!("/api/comments/{on_public}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, v) = mod_.delete(&format!("/api/posts/{public}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, _) = alice.get(&format!("/api/posts/{public}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Even what the admin cannot see.
    let (status, v) = mod_.delete(&format!("/api/comments/{on_private}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, v) = mod_.delete(&format!("/api/posts/{private}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let (status, _) = mod_.delete(&format!("/api/posts/{private}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A non-admin still cannot; and a revoked admin no longer can, at once.
    let other = alice.new_post("another", "public").await;
    let (status, v) = bob.delete(&format!("/api/posts/{other}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let out = admin_ok(&db, &["revoke-admin", "moderator"]).await;
    assert!(out.contains("moderator is no longer an admin"), "{out}");
    let (status, v) = mod_.delete(&format!("/api/posts/{other}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    let (status, v) = mod_.get("/api/me").await;
    assert_eq!(
        (status, &v["user"]["admin"]),
        (StatusCode::OK, &json!(false))
    );
}

#[tokio::test]
async fn bad_input_gets_one_clear_line_and_a_failing_exit() {
    let app = spawn_app().await;
    let db = db_of(&app);
    let _alice = app.user("alice").await;

    let err = admin_err(&db, &["ban", "nobody"]).await;
    assert!(err.contains(r#"no user "nobody""#), "{err}");
    let err = admin_err(&db, &["ban", "1zzzzzzzzzzzz"]).await;
    assert!(err.contains(r#"no user "1zzzzzzzzzzzz""#), "{err}");
    let err = admin_err(&db, &["ban", "not an id!"]).await;
    assert!(err.contains("neither a username nor a user id"), "{err}");
    let err = admin_err(&db, &["unban", "alice"]).await;
    assert!(err.contains("alice is not banned"), "{err}");
    admin_ok(&db, &["ban", "alice"]).await;
    let err = admin_err(&db, &["ban", "alice"]).await;
    assert!(err.contains("alice is already banned"), "{err}");
    let err = admin_err(&db, &["revoke-admin", "alice"]).await;
    assert!(err.contains("alice is not an admin"), "{err}");
    admin_ok(&db, &["make-admin", "alice"]).await;
    let err = admin_err(&db, &["make-admin", "alice"]).await;
    assert!(err.contains("alice is already an admin"), "{err}");
    let err = admin_err(&db, &["make-admin", ""]).await;
    assert!(err.contains("neither a username nor a user id"), "{err}");

    // A mistyped path is not made into a new database.
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nothing-here.db");
    let err = admin_err(&missing, &["list"]).await;
    assert!(err.contains("no database at"), "{err}");
    assert!(!missing.exists());

    // On a LiteFS replica (its mount names the primary), the primary is
    // where bans are made.
    let replica = tempfile::tempdir().expect("temp dir");
    let copy = replica.path().join("kith.db");
    std::fs::write(&copy, b"").expect("the replica's copy");
    std::fs::write(replica.path().join(".primary"), "node0\n").expect(".primary");
    let err = admin_err(&copy, &["ban", "alice"]).await;
    assert!(err.contains("run `kith admin` on the primary"), "{err}");
    assert!(err.contains("node0"), "{err}");

    // Nothing changed: alice is still banned and an admin.
    let out = admin_ok(&db, &["list", "--banned", "--admins"]).await;
    assert_eq!(listed(&out), ["alice"], "{out}");
}

#[tokio::test]
async fn a_ticket_from_before_a_ban_or_a_deletion_opens_no_socket() {
    let app = spawn_app().await;
    let db = db_of(&app);
    for (name, end) in [("alice", "ban"), ("bob", "delete")] {
        let p = person(&app, name).await;
        let early = ticket(&p).await;
        if end == "ban" {
            admin_ok(&db, &["ban", name]).await;
            // Past the ban watcher's next look (every 500 ms), which found
            // no socket to close: the check at connection time must.
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        } else {
            let (s, v) = p
                .http
                .request(
                    reqwest::Method::DELETE,
                    "/api/me",
                    Some(json!({"password": password_of(name)})),
                )
                .await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        }
        // The ticket still verifies, but the session it opens is closed at
        // once, before any frame is answered.
        let refused = match wt_connect(&p, &early, None).await {
            Err(_) => true,
            Ok(conn) => {
                // The server serves a session once its stream carries data.
                let (mut send, _recv) = within(conn.open_bi())
                    .await
                    .expect("open bi")
                    .await
                    .expect("bi stream");
                let _ = send.write_all(b"{\"type\":\"ping\"}\n").await;
                let closed = tokio::time::timeout(crate::helpers::TIMEOUT, conn.closed())
                    .await
                    .expect("the session was not closed in time");
                matches!(
                    closed,
                    wtransport::error::ConnectionError::ApplicationClosed(_)
                        | wtransport::error::ConnectionError::LocallyClosed
                )
            }
        };
        assert!(refused, "{name}'s early ticket opened a live session");
    }
}

/// The link a `create` or `reset-link` printed: its token.
fn token_in(out: &str) -> String {
    let link = out
        .split_whitespace()
        .find(|w| w.contains("/#/reset-password/"))
        .unwrap_or_else(|| panic!("no link in {out}"));
    assert!(link.starts_with("https://kith.example/"), "{link}");
    link.rsplit('/').next().expect("token").to_owned()
}

#[tokio::test]
async fn create_makes_an_account_whose_owner_sets_the_password_by_a_one_time_link() {
    let app = spawn_app().await;
    let db = db_of(&app);
    let out = admin_ok(
        &db,
        &[
            "create",
            "dora",
            "--admin",
            "--display-name",
            "Dora",
            "--public-url",
            "https://kith.example/",
        ],
    )
    .await;
    assert!(out.contains("dora is an admin account"), "{out}");
    let token = token_in(&out);
    // No password works until the link is used.
    let c = app.client();
    assert_eq!(
        c.login("dora", "anything-at-all").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = c
        .post(
            "/api/auth/password-reset/confirm",
            json!({"token": token, "password": "doras-own-password"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = c.login("dora", "doras-own-password").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, me) = c.get("/api/me").await;
    assert_eq!(
        (
            me["user"]["admin"].as_bool(),
            me["user"]["display_name"].as_str()
        ),
        (Some(true), Some("Dora"))
    );
    // Used once, the link is spent.
    let (s, _) = app
        .client()
        .post(
            "/api/auth/password-reset/confirm",
            json!({"token": token, "password": "someone-elses-now"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // A reset link for an existing account ends its sessions when used.
    let out = admin_ok(
        &db,
        &["reset-link", "dora", "--public-url", "https://kith.example"],
    )
    .await;
    let token = token_in(&out);
    let (s, _) = app
        .client()
        .post(
            "/api/auth/password-reset/confirm",
            json!({"token": token, "password": "a-third-password"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(c.get("/api/me").await.0, StatusCode::UNAUTHORIZED);

    let err = admin_err(&db, &["create", "dora"]).await;
    assert!(err.contains("taken"), "{err}");
    let err = admin_err(&db, &["create", "no spaces"]).await;
    assert!(err.contains("username"), "{err}");
    let err = admin_err(&db, &["reset-link", "nobody"]).await;
    assert!(err.contains("no user"), "{err}");
}
