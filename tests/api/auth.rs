//! Accounts and sessions: signup, login, logout, logout-all, `/api/me`,
//! the session cookie and its rotation.

use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    assert_error, cookie_value, password_of, send, set_cookie, spawn_app, spawn_with,
};

#[tokio::test]
async fn signup_creates_a_signed_in_account() {
    let app = spawn_app().await;
    let c = app.client();
    let (status, headers, body) = send(c.req(Method::POST, "/api/auth/signup").json(&json!({
        "username": "alice",
        "password": "correct horse",
        "display_name": "  Alice A.  ",
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(body["user"]["display_name"], "Alice A.", "trimmed");
    assert!(body["user"]["id"].is_string());
    assert!(body["user"]["created_at"].is_string());
    assert!(body["user"].get("password_hash").is_none(), "{body}");
    assert!(set_cookie(&headers, "kith").is_some(), "{headers:?}");

    // The cookie signs the client in.
    let (status, me) = c.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "alice");
    assert_eq!(me["user"]["id"], body["user"]["id"]);

    // Without a display name, it is the username.
    let bob = app.user("bob").await;
    let (_, me) = bob.get("/api/me").await;
    assert_eq!(me["user"]["display_name"], "bob");
}

#[tokio::test]
async fn usernames_are_unique_regardless_of_case() {
    let app = spawn_app().await;
    app.user("alice").await;
    for name in ["alice", "ALICE", "Alice"] {
        let (status, body) = app
            .client()
            .post(
                "/api/auth/signup",
                json!({"username": name, "password": "long enough"}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{name}: {body}");
        assert_error(&body, "conflict");
    }
    // Concurrent signups of one new name: exactly one wins.
    let c1 = app.client();
    let c2 = app.client();
    let body = json!({"username": "Carol", "password": "long enough"});
    let body2 = json!({"username": "carol", "password": "long enough"});
    let ((s1, _), (s2, _)) = tokio::join!(
        c1.post("/api/auth/signup", body),
        c2.post("/api/auth/signup", body2)
    );
    let mut got = [s1, s2];
    got.sort();
    assert_eq!(got, [StatusCode::CREATED, StatusCode::CONFLICT]);
}

#[tokio::test]
async fn signup_validates_its_input() {
    let app = spawn_app().await;
    let c = app.client();
    let cases = [
        json!({"username": "alice", "password": "1234567"}),
        json!({"username": "alice", "password": ""}),
        json!({"username": "alice", "password": "x".repeat(1025)}),
        json!({"username": "ab", "password": "long enough"}),
        json!({"username": "x".repeat(33), "password": "long enough"}),
        json!({"username": "_alice", "password": "long enough"}),
        json!({"username": "al ice", "password": "long enough"}),
        json!({"username": "ålice", "password": "long enough"}),
        json!({"username": "a;drop", "password": "long enough"}),
        json!({"username": "", "password": "long enough"}),
        json!({"username": "alice", "password": "long enough", "display_name": "   "}),
        json!({"username": "alice", "password": "long enough", "display_name": "a\u{0}b"}),
        json!({"username": "alice", "password": "long enough", "display_name": "é".repeat(65)}),
    ];
    for case in cases {
        let (status, body) = c.post("/api/auth/signup", case.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{case}: {body}");
        assert_error(&body, "invalid");
    }
    // Nothing was created, and the client is not signed in.
    let (status, _) = c.get("/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Exactly 8 characters (counted as characters, not bytes) is enough;
    // 64 two-byte characters is a valid display name.
    let (status, body) = c
        .post(
            "/api/auth/signup",
            json!({"username": "alice", "password": "pässwör", "display_name": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "7 chars: {body}");
    let (status, body) = c
        .post(
            "/api/auth/signup",
            json!({"username": "alice", "password": "pässwörd", "display_name": "é".repeat(64)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn login_checks_the_password() {
    let app = spawn_app().await;
    app.user("alice").await;
    let c = app.client();

    let (status, body) = c.login("alice", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_error(&body, "bad_credentials");
    let (status, _) = c.get("/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = c.login("nobody", "whatever-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // An unknown user looks exactly like a wrong password.
    assert_error(&body, "bad_credentials");

    let (status, body) = c.login("alice", &"x".repeat(5000)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");

    let (status, body) = c.login("alice", &password_of("alice")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "alice");
    let (status, me) = c.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], "alice");

    // Usernames match regardless of case at login too.
    let (status, body) = app.client().login("ALICE", &password_of("alice")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["username"], "alice");
}

#[tokio::test]
async fn me_requires_a_session() {
    let app = spawn_app().await;
    let (status, body) = app.client().get("/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");

    // A cookie naming no session, or a malformed one, is no session.
    for cookie in [
        "kith=AAAAAAAAAAAAAAAAAAAAAA",
        "kith=garbage!",
        "kith=",
        "other=1",
    ] {
        let c = app.bare_client();
        let (status, _, body) = send(c.req(Method::GET, "/api/me").header(COOKIE, cookie)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{cookie}: {body}");
    }
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let (status, headers, body) = send(alice.req(Method::POST, "/api/auth/logout")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // The cookie is cleared...
    let cleared = set_cookie(&headers, "kith").expect("a clearing cookie");
    assert!(
        cleared.to_ascii_lowercase().contains("max-age=0"),
        "{cleared}"
    );
    // ...and the session is gone on the server.
    let (status, _) = alice.get("/api/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = alice.post("/api/posts", json!({"body": "hi"})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Logging out without a session is fine.
    let (status, _) = app.client().post_empty("/api/auth/logout").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_logged_out_session_id_cannot_be_replayed() {
    let app = spawn_app().await;
    let c = app.bare_client();
    let (status, headers, _) = send(c.req(Method::POST, "/api/auth/signup").json(&json!({
        "username": "alice", "password": password_of("alice"),
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let sid = cookie_value(set_cookie(&headers, "kith").expect("cookie")).to_string();
    let cookie = format!("kith={sid}");
    let (status, _, _) = send(c.req(Method::GET, "/api/me").header(COOKIE, &cookie)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(
        c.req(Method::POST, "/api/auth/logout")
            .header(COOKIE, &cookie),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = send(c.req(Method::GET, "/api/me").header(COOKIE, &cookie)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_only() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let alice_phone = app.login("alice").await;
    let bob = app.user("bob").await;
    for c in [&alice, &alice_phone, &bob] {
        let (status, _) = c.get("/api/me").await;
        assert_eq!(status, StatusCode::OK);
    }

    let (status, body) = alice_phone.post_empty("/api/auth/logout-all").await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    for c in [&alice, &alice_phone] {
        let (status, body) = c.get("/api/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, me) = bob.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], "bob");

    // Alice can sign in again afterwards.
    let again = app.login("alice").await;
    let (status, _) = again.get("/api/me").await;
    assert_eq!(status, StatusCode::OK);

    // Without a session it is 401.
    let (status, body) = app.client().post_empty("/api/auth/logout-all").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "unauthorized");
}

#[tokio::test]
async fn login_rotates_the_session_id() {
    let app = spawn_app().await;
    let c = app.bare_client();
    let (status, headers, _) = send(c.req(Method::POST, "/api/auth/signup").json(&json!({
        "username": "alice", "password": password_of("alice"),
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = cookie_value(set_cookie(&headers, "kith").expect("cookie")).to_string();
    assert!(!before.is_empty());

    // Log in again from the same browser (sending the current cookie).
    let (status, headers, body) = send(
        c.req(Method::POST, "/api/auth/login")
            .header(COOKIE, format!("kith={before}"))
            .json(&json!({"username": "alice", "password": password_of("alice")})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = cookie_value(set_cookie(&headers, "kith").expect("a new cookie")).to_string();
    assert_ne!(before, after, "login must issue a new session id");

    // The new id works; the old one is dead.
    let (status, _, _) = send(
        c.req(Method::GET, "/api/me")
            .header(COOKIE, format!("kith={after}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = send(
        c.req(Method::GET, "/api/me")
            .header(COOKIE, format!("kith={before}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An id planted by someone else before login is not adopted.
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let (status, headers, _) = send(
        c.req(Method::POST, "/api/auth/login")
            .header(COOKIE, format!("kith={planted}"))
            .json(&json!({"username": "alice", "password": password_of("alice")})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let issued = cookie_value(set_cookie(&headers, "kith").expect("cookie")).to_string();
    assert_ne!(issued, planted);
    let (status, _, _) = send(
        c.req(Method::GET, "/api/me")
            .header(COOKIE, format!("kith={planted}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The same through a cookie jar: the jar's value changes on login.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let browser = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .timeout(crate::helpers::TIMEOUT)
        .build()
        .expect("client");
    let url: reqwest::Url = app.url("/").parse().expect("url");
    let jar_value = || {
        use reqwest::cookie::CookieStore;
        jar.cookies(&url)
            .and_then(|h| h.to_str().ok().map(str::to_string))
            .unwrap_or_default()
    };
    let res = browser
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "alice", "password": password_of("alice")}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::OK);
    let first = jar_value();
    assert!(first.starts_with("kith="), "{first}");
    let res = browser
        .post(app.url("/api/auth/login"))
        .json(&json!({"username": "alice", "password": password_of("alice")}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::OK);
    let second = jar_value();
    assert!(second.starts_with("kith="), "{second}");
    assert_ne!(first, second);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    let (status, headers, _) = send(
        app.client()
            .req(Method::POST, "/api/auth/signup")
            .json(&json!({"username": "alice", "password": password_of("alice")})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let cookie = set_cookie(&headers, "kith").expect("kith cookie");
    let attrs: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.iter().any(|a| a == "httponly"), "{cookie}");
    assert!(attrs.iter().any(|a| a == "samesite=lax"), "{cookie}");
    assert!(attrs.iter().any(|a| a == "path=/"), "{cookie}");
    assert!(!attrs.iter().any(|a| a == "secure"), "{cookie}");
    assert!(set_cookie(&headers, "__Host-kith").is_none());
}

#[tokio::test]
async fn secure_cookies_use_the_host_prefix() {
    let app = spawn_with(|cfg| cfg.secure_cookies = true).await;
    let (status, headers, _) = send(
        app.client()
            .req(Method::POST, "/api/auth/signup")
            .json(&json!({"username": "alice", "password": password_of("alice")})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(set_cookie(&headers, "kith").is_none(), "{headers:?}");
    let cookie = set_cookie(&headers, "__Host-kith").expect("__Host-kith cookie");
    let attrs: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.iter().any(|a| a == "secure"), "{cookie}");
    assert!(attrs.iter().any(|a| a == "httponly"), "{cookie}");
    assert!(attrs.iter().any(|a| a == "samesite=lax"), "{cookie}");
    // `__Host-` cookies must have Path=/ and no Domain.
    assert!(attrs.iter().any(|a| a == "path=/"), "{cookie}");
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{cookie}");

    // The cookie works under its prefixed name.
    let sid = cookie_value(cookie);
    let (status, _, me) = send(
        app.bare_client()
            .req(Method::GET, "/api/me")
            .header(COOKIE, format!("__Host-kith={sid}")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["username"], "alice");
}

#[tokio::test]
async fn signing_up_or_in_as_someone_else_replaces_the_session() {
    let app = spawn_app().await;
    let c = app.bare_client();
    let signup = |name: &str| {
        c.req(Method::POST, "/api/auth/signup")
            .json(&json!({"username": name, "password": password_of(name)}))
    };
    let (status, headers, _) = send(signup("alice")).await;
    assert_eq!(status, StatusCode::CREATED);
    let alice_sid = cookie_value(set_cookie(&headers, "kith").expect("cookie")).to_string();

    // Signing up as Bob from Alice's browser: a new session, Alice's ended.
    let (status, headers, _) =
        send(signup("bob").header(COOKIE, format!("kith={alice_sid}"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let bob_sid = cookie_value(set_cookie(&headers, "kith").expect("cookie")).to_string();
    assert_ne!(alice_sid, bob_sid);
    let me = |sid: String| {
        send(
            c.req(Method::GET, "/api/me")
                .header(COOKIE, format!("kith={sid}")),
        )
    };
    let (status, _, v) = me(bob_sid.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["user"]["username"], "bob");
    let (status, _, _) = me(alice_sid).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Logging in as Alice from Bob's session.
    let (status, headers, v) = send(
        c.req(Method::POST, "/api/auth/login")
            .header(COOKIE, format!("kith={bob_sid}"))
            .json(&json!({"username": "alice", "password": password_of("alice")})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let new_sid = cookie_value(set_cookie(&headers, "kith").expect("cookie")).to_string();
    let (_, _, v) = me(new_sid).await;
    assert_eq!(v["user"]["username"], "alice");
    let (status, _, _) = me(bob_sid).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A failed login leaves the current session alone.
    let bob = app.login("bob").await;
    let (status, _) = bob.login("alice", "wrong password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, v) = bob.get("/api/me").await;
    assert_eq!(v["user"]["username"], "bob");
}
