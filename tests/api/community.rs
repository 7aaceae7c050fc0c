//! A community its operators run: sign-up modes (invite, approval,
//! closed), invites, reports and their resolution in the console, the
//! console's other routes, the audit log, and the bad input of each.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp, assert_error, password_of, person, spawn_app, spawn_with};
use crate::ws::Ws;
use kith::config::SignupMode;

fn make_admin(app: &TestApp, name: &str) {
    let db = app.data_dir.join("kith.db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kith"))
        .args(["admin", "user", "make-admin", name, "--db"])
        .arg(&db)
        .env_remove("KITH_DATA_DIR")
        .output()
        .expect("kith admin");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn signup(c: &Client, name: &str, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"username": name, "password": password_of(name)});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    c.post("/api/auth/signup", body).await
}

#[tokio::test]
async fn invite_sign_ups_count_uses_and_refuse_spent_expired_and_revoked_codes() {
    let app = spawn_with(|c| c.community.signup = SignupMode::Invite).await;
    let (s, cfg) = app.client().get("/api/auth/config").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cfg["signup"], "invite");
    // Without a code: refused.
    let (s, v) = signup(&app.client(), "nobody", json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_error(&v, "invalid_invite");

    // The operator's first account comes from the command line.
    let admin = admin_account(&app, "root").await;
    let (s, v) = admin
        .post(
            "/api/invites",
            json!({"max_uses": 2, "expires_in_hours": 24}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let code = v["invite"]["code"].as_str().expect("code").to_owned();
    assert!(
        v["invite"]["url"]
            .as_str()
            .expect("url")
            .ends_with(&format!("#/signup/{code}"))
    );
    for name in ["ann", "ben"] {
        let (s, v) = signup(&app.client(), name, json!({"invite": code})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (s, v) = signup(&app.client(), "cid", json!({"invite": code})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "used up: {v}");
    assert_error(&v, "invalid_invite");
    let (_, list) = admin.get("/api/invites").await;
    assert_eq!(list["items"][0]["uses"], 2, "{list}");
    // Revoked and forged codes are refused the same way.
    let (_, v) = admin.post("/api/invites", json!({})).await;
    let once = v["invite"]["code"].as_str().expect("code").to_owned();
    assert_eq!(
        admin.delete(&format!("/api/invites/{once}")).await.0,
        StatusCode::NO_CONTENT
    );
    for bad in [once.as_str(), "forged-code", ""] {
        let (s, v) = signup(&app.client(), "dee", json!({"invite": bad})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
    }
    // Users may not make invites unless the server says so.
    let ann = app.login("ann").await;
    let (s, v) = ann.post("/api/invites", json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    for bad in [
        json!({"max_uses": 0}),
        json!({"max_uses": 1001}),
        json!({"expires_in_hours": 0}),
    ] {
        let (s, v) = admin.post("/api/invites", bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
    }
    // Both invites are in the audit log... the admin's, as made.
    let (_, log) = admin.get("/api/admin/audit").await;
    assert!(log.to_string().contains("invite.create"), "{log}");
}

/// An account made an admin by the command line, signed in.
async fn admin_account(app: &TestApp, name: &str) -> Client {
    // Sign-up may be closed or need an invite: make the row directly
    // through the writer, as `kith admin user create` would.
    let id = kith::ids::Id::generate();
    let hash = app
        .state
        .passwords
        .hash(password_of(name))
        .await
        .expect("hash");
    app.state
        .writer
        .run(kith::store::users::CreateUser {
            id,
            username: name.into(),
            display_name: name.into(),
            password_hash: hash,
            invite: None,
            pending: None,
        })
        .await
        .expect("create");
    make_admin(app, name);
    app.login(name).await
}

#[tokio::test]
async fn approval_sign_ups_wait_for_an_admin_who_approves_or_rejects() {
    let app = spawn_with(|c| c.community.signup = SignupMode::Approval).await;
    let admin = admin_account(&app, "root").await;
    let (s, v) = signup(&app.client(), "ann", json!({})).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is needed: {v}"
    );
    let c = app.client();
    let (s, v) = signup(&c, "ann", json!({"reason": "I am Bob's sister"})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["pending"], true);
    // No session came with it, and signing in is refused with its own code.
    assert_eq!(c.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    let (s, v) = c.login("ann", &password_of("ann")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_error(&v, "awaiting_approval");
    // A wrong password still says only that.
    let (s, v) = c.login("ann", "wrong-password").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");

    let (_, pending) = admin.get("/api/admin/users?filter=pending").await;
    let items = pending["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{pending}");
    assert_eq!(items[0]["signup_reason"], "I am Bob's sister");
    let ann_id = items[0]["user"]["id"].as_str().expect("id").to_owned();
    let (s, v) = admin
        .post_empty(&format!("/api/admin/users/{ann_id}/approve"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "active");
    assert_eq!(c.login("ann", &password_of("ann")).await.0, StatusCode::OK);
    // Approving twice: nothing pending.
    let (s, _) = admin
        .post_empty(&format!("/api/admin/users/{ann_id}/approve"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A rejected applicant is gone, and the name is free again.
    let (s, _) = signup(&app.client(), "spam", json!({"reason": "buy now"})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, pending) = admin.get("/api/admin/users?filter=pending&q=spa").await;
    let spam_id = pending["items"][0]["user"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (s, _) = admin
        .post_empty(&format!("/api/admin/users/{spam_id}/reject"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = signup(&app.client(), "spam", json!({"reason": "again"})).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, log) = admin.get("/api/admin/audit").await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["signup.reject", "signup.approve"], "{log}");
    assert_eq!(log["items"][0]["actor"]["username"], "root");
}

#[tokio::test]
async fn closed_sign_ups_refuse_everyone() {
    let app = spawn_with(|c| c.community.signup = SignupMode::Closed).await;
    let (s, v) = signup(&app.client(), "ann", json!({"reason": "x", "invite": "y"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_error(&v, "signups_closed");
    let (_, cfg) = app.client().get("/api/auth/config").await;
    assert_eq!(cfg["signup"], "closed");
    assert_eq!(cfg["mail"], false);
}

#[tokio::test]
async fn a_report_resolved_with_a_ban_removes_the_post_signs_the_author_out_and_tells_the_reporter()
{
    let app = spawn_app().await;
    let admin = admin_account(&app, "root").await;
    let alice = person(&app, "alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let post = alice.http.new_post("something awful", "public").await;
    let secret = alice.http.new_post("friends only", "friends").await;
    let mut alice_ws = Ws::open(&app, &alice).await;

    // What the reporter cannot see is not there to report.
    let (s, v) = bob
        .post(
            "/api/reports",
            json!({"kind": "post", "id": secret, "reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    for bad in [
        json!({"kind": "post", "id": post, "reason": "because"}),
        json!({"kind": "post", "id": post, "reason": "spam", "note": "x".repeat(1001)}),
        json!({"kind": "planet", "id": post, "reason": "spam"}),
    ] {
        let (s, v) = bob.post("/api/reports", bad.clone()).await;
        assert!(
            s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST,
            "{bad}: {s} {v}"
        );
    }
    let (s, v) = alice
        .http
        .post(
            "/api/reports",
            json!({"kind": "post", "id": post, "reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "your own: {v}");

    let (s, v) = bob
        .post(
            "/api/reports",
            json!({"kind": "post", "id": post, "reason": "harassment", "note": "aimed at me"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let report = v["report"]["id"].as_str().expect("id").to_owned();
    // The same report again is the same one.
    let (_, again) = bob
        .post(
            "/api/reports",
            json!({"kind": "post", "id": post, "reason": "harassment"}),
        )
        .await;
    assert_eq!(again["report"]["id"], report.as_str());
    let (s, _) = carol
        .post(
            "/api/reports",
            json!({"kind": "post", "id": post, "reason": "hate"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // Not for users.
    let (s, v) = bob.get("/api/admin/reports").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, _) = app.client().get("/api/admin/reports").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = bob
        .post(
            &format!("/api/admin/reports/{report}/resolve"),
            json!({"action": "ban"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (_, open) = admin.get("/api/admin/reports?status=open").await;
    assert_eq!(open["items"].as_array().expect("items").len(), 2, "{open}");
    let bobs = open["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["id"] == report.as_str())
        .expect("bob's report");
    assert_eq!(bobs["content"]["body"], "something awful");
    assert_eq!(bobs["author"]["username"], "alice");
    assert_eq!(bobs["reporter"]["username"], "bob");
    assert_eq!(bobs["note"], "aimed at me");

    let (s, v) = admin
        .post(
            &format!("/api/admin/reports/{report}/resolve"),
            json!({"action": "ban"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["outcome"], "banned");
    assert!(v["content"].is_null(), "the post is gone: {v}");
    // Alice is out everywhere, her socket told why.
    let (code, reason) = alice_ws.closed().await;
    assert_eq!((code, reason.as_str()), (4000, "account banned"));
    assert_eq!(alice.http.get("/api/me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bob.get(&format!("/api/posts/{post}")).await.0,
        StatusCode::NOT_FOUND
    );
    // Carol's report of the same post was resolved with it; both are told.
    let (_, open) = admin.get("/api/admin/reports").await;
    assert!(
        open["items"].as_array().expect("items").is_empty(),
        "{open}"
    );
    for reporter in [&bob, &carol] {
        let (_, n) = reporter.get("/api/notifications").await;
        assert_eq!(n["items"][0]["kind"], "report_resolved", "{n}");
        let (_, mine) = reporter.get("/api/me/reports").await;
        assert_eq!(mine["items"][0]["outcome"], "banned", "{mine}");
    }
    // Resolving again is a conflict; nothing changes.
    let (s, _) = admin
        .post(
            &format!("/api/admin/reports/{report}/resolve"),
            json!({"action": "dismiss"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, log) = admin.get("/api/admin/audit").await;
    assert_eq!(log["items"][0]["action"], "report.resolve", "{log}");
    assert_eq!(log["items"][0]["detail"], "banned");
}

#[tokio::test]
async fn a_message_report_keeps_a_copy_of_that_message_only_and_reports_are_rate_limited() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = app.user("bob").await;
    alice.http.befriend(&bob, "bob").await;
    let conv = crate::helpers::direct(&alice.http, "bob").await;
    let mut ws = Ws::open(&app, &alice).await;
    for (id, body) in [
        ("m1", "a nasty message"),
        ("m2", "another one, not reported"),
    ] {
        ws.send(
            json!({"type": "send", "conversation_id": conv, "client_msg_id": id, "body": body}),
        )
        .await;
        ws.wait_for(|f| f["type"] == "ack" && f["client_msg_id"] == id)
            .await;
    }
    let (_, page) = bob
        .get(&format!("/api/conversations/{conv}/messages"))
        .await;
    let message = page["messages"]
        .as_array()
        .or_else(|| page["items"].as_array())
        .expect("messages")
        .iter()
        .find(|m| m["body"] == "a nasty message")
        .and_then(|m| m["message_id"].as_str())
        .expect("the message")
        .to_owned();
    let carol = app.user("carol").await;
    // Not a member: nothing to report.
    let (s, _) = carol
        .post(
            "/api/reports",
            json!({"kind": "message", "id": message, "reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = bob
        .post(
            "/api/reports",
            json!({"kind": "message", "id": message, "reason": "harassment"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["report"]["content"]["body"], "a nasty message");
    let copy: String = sqlx::query_scalar("SELECT snapshot FROM reports")
        .fetch_one(&app.state.read)
        .await
        .expect("snapshot");
    assert!(
        copy.contains("a nasty message") && !copy.contains("not reported"),
        "{copy}"
    );
    // Removing a message is not a console action; dismissing is.
    let admin = admin_account(&app, "root").await;
    let report = v["report"]["id"].as_str().expect("id");
    let (s, _) = admin
        .post(
            &format!("/api/admin/reports/{report}/resolve"),
            json!({"action": "remove"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // A flood: the eleventh report within the hour waits.
    for i in 0..9 {
        let p = carol.new_post(&format!("post {i}"), "public").await;
        let (s, v) = bob
            .post(
                "/api/reports",
                json!({"kind": "post", "id": p, "reason": "spam"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{i}: {v}");
    }
    let p = carol.new_post("one too many", "public").await;
    let (s, v) = bob
        .post(
            "/api/reports",
            json!({"kind": "post", "id": p, "reason": "spam"}),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
}

#[tokio::test]
async fn the_console_lists_and_changes_users_and_jobs_and_refuses_bad_input() {
    let app = spawn_app().await;
    let admin = admin_account(&app, "root").await;
    let bob = app.user("bob").await;
    let (_, all) = admin.get("/api/admin/users?q=bo").await;
    let items = all["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{all}");
    let bob_id = items[0]["user"]["id"].as_str().expect("id").to_owned();
    let (s, v) = admin
        .request(
            reqwest::Method::PATCH,
            &format!("/api/admin/users/{bob_id}"),
            Some(json!({"admin": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["admin"], true);
    // Bob is an admin now: the console answers him.
    assert_eq!(bob.get("/api/admin/users").await.0, StatusCode::OK);
    let (s, _) = admin
        .request(
            reqwest::Method::PATCH,
            &format!("/api/admin/users/{bob_id}"),
            Some(json!({"admin": true})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, me) = admin.get("/api/me").await;
    let root_id = me["user"]["id"].as_str().expect("id").to_owned();
    let (s, _) = admin
        .request(
            reqwest::Method::PATCH,
            &format!("/api/admin/users/{root_id}"),
            Some(json!({"banned": true})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // A reset link works once.
    let (s, link) = admin
        .post_empty(&format!("/api/admin/users/{bob_id}/reset-link"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let url = link["url"].as_str().expect("url");
    let token = url.rsplit('/').next().expect("token");
    let c = app.client();
    let (s, v) = c
        .post(
            "/api/auth/password-reset/confirm",
            json!({"token": token, "password": "brand-new-pass"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(
        bob.get("/api/me").await.0,
        StatusCode::UNAUTHORIZED,
        "every session ended"
    );
    assert_eq!(c.login("bob", "brand-new-pass").await.0, StatusCode::OK);
    for bad in [token, "forged", &"x".repeat(300)] {
        let (s, v) = c
            .post(
                "/api/auth/password-reset/confirm",
                json!({"token": bad, "password": "another-new-one"}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert_error(&v, "invalid_token");
    }
    // Bad filters and cursors are 400s.
    for path in [
        "/api/admin/users?filter=everyone",
        "/api/admin/users?cursor=%21%21",
        "/api/admin/jobs?status=sleeping",
        "/api/admin/reports?status=maybe",
    ] {
        assert_eq!(admin.get(path).await.0, StatusCode::BAD_REQUEST, "{path}");
    }
    // Jobs: a job enqueued, listed, cancelled, retried.
    let job = kith::ids::Id::generate();
    app.state
        .writer
        .run(kith::store::jobs::Enqueue(kith::store::jobs::NewJob {
            id: job,
            kind: "nothing-runs-this".into(),
            payload: "{}".into(),
            priority: 0,
            max_attempts: 1,
            idempotency_key: None,
            owner: None,
        }))
        .await
        .expect("enqueue");
    let (_, jobs) = admin.get("/api/admin/jobs?kind=nothing-runs-this").await;
    assert_eq!(jobs["items"][0]["status"], "queued", "{jobs}");
    let (s, v) = admin
        .post_empty(&format!("/api/admin/jobs/{job}/cancel"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "cancelled");
    let (s, v) = admin
        .post_empty(&format!("/api/admin/jobs/{job}/retry"))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "queued");
    let (_, log) = admin.get("/api/admin/audit").await;
    let actions: Vec<&str> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "job.retry",
            "job.cancel",
            "user.reset_link",
            "user.make_admin"
        ],
        "{log}"
    );
}
