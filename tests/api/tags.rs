//! `#tag` pages of visible posts and the tags trending in public posts.

use serde_json::Value;

use crate::helpers::{person, spawn_app};

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {v}"))
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test]
async fn tag_pages_show_visible_posts_newest_first_in_cursor_pages() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let eve = person(&app, "eve").await;
    alice.http.befriend(&bob.http, "bob").await;
    let mut public = Vec::new();
    for i in 0..3 {
        public.push(
            alice
                .http
                .new_post(&format!("day {i} #Rust"), "public")
                .await,
        );
    }
    let private = alice.http.new_post("secret #rust", "friends").await;
    alice.http.new_post("not #rusty", "public").await;

    let (s, v) = bob.http.get("/api/tags/rust").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        ids(&v),
        [
            private.clone(),
            public[2].clone(),
            public[1].clone(),
            public[0].clone()
        ]
    );
    let (_, v) = eve.http.get("/api/tags/RUST?limit=2").await;
    assert_eq!(
        ids(&v),
        [public[2].clone(), public[1].clone()],
        "no friends-only post"
    );
    let cursor = v["next_cursor"].as_str().expect("a next page").to_string();
    let (_, v) = eve
        .http
        .get(&format!("/api/tags/rust?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(ids(&v), [public[0].clone()]);

    for bad in ["a-b", "123", "%20"] {
        let (s, v) = eve.http.get(&format!("/api/tags/{bad}")).await;
        assert_eq!(s, 422, "{bad}: {v}");
    }
    let (s, _) = eve.http.get("/api/tags/rust?limit=100000").await;
    assert_eq!(s, 400, "an oversized page");
    let (s, _) = eve.http.get("/api/tags/rust?cursor=%21%21").await;
    assert!(s.is_client_error(), "a bad cursor");
}

#[tokio::test]
async fn trending_counts_public_posts_only() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    for i in 0..3 {
        alice.http.new_post(&format!("#kith {i}"), "public").await;
    }
    alice.http.new_post("#music", "public").await;
    for _ in 0..5 {
        alice.http.new_post("#hidden", "friends").await;
    }
    let (s, v) = alice.http.get("/api/tags/trending").await;
    assert_eq!(s, 200, "{v}");
    let items = v["items"].as_array().expect("items");
    assert_eq!(items[0]["tag"], "kith");
    assert_eq!(items[0]["posts"], 3);
    assert_eq!(items[1]["tag"], "music");
    assert!(items.iter().all(|t| t["tag"] != "hidden"), "{v}");
}

#[tokio::test]
async fn posts_from_before_tags_were_kept_get_theirs_after_the_upgrade() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    person(&app, "bob").await;
    let mut old = Vec::new();
    for i in 0..3 {
        old.push(
            alice
                .http
                .new_post(&format!("old {i} #Vintage"), "public")
                .await,
        );
    }
    let (_dir, data_dir) = app.stop().await;
    // The database as the build before tags left it: no tags, at step
    // 12, with what every later step made undone (a new step adds its
    // undoing here, or this fails at its first statement).
    {
        let db = rusqlite::Connection::open(data_dir.join("kith.db")).expect("open");
        assert_eq!(
            kith::db::schema::latest(),
            18,
            "undo the new schema steps below"
        );
        db.execute_batch(
            "DELETE FROM post_tags;
             DROP TRIGGER post_media_count_ins;
             DROP TRIGGER post_media_count_del;
             ALTER TABLE posts DROP COLUMN media_count;
             DROP TRIGGER feed_items_post_ins;
             DROP TRIGGER feed_items_post_del;
             DROP TRIGGER feed_items_friend_ins;
             DROP TRIGGER feed_items_friend_del;
             DROP TRIGGER feed_items_user_del;
             DROP TABLE feed_items;
             DROP INDEX session_ends_session;
             DROP TABLE idempotency_steps;
             DROP TABLE idempotency_keys;
             DROP TABLE link_images;
             DROP TABLE push_subscriptions;
             DROP TABLE notification_prefs;
             ALTER TABLE notifications DROP COLUMN emailed_at;
             PRAGMA user_version = 12;",
        )
        .expect("back to step 12");
    }
    let app = crate::helpers::spawn_on(data_dir).await;
    let bob = app.login("bob").await;
    let deadline = tokio::time::Instant::now() + crate::helpers::TIMEOUT;
    loop {
        let (_, v) = bob.get("/api/tags/vintage").await;
        let mut want = old.clone();
        want.reverse();
        if ids(&v) == want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old posts never got their tag: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
