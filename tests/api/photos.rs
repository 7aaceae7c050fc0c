//! Photos, resumable (tus) uploads, attachments and avatars, against a
//! real server: what each client sees, what is stored, what is refused.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Client, Person, TestApp, assert_error, person, spawn_app, spawn_with};
use crate::images::{SECRET, heic, jpeg_with_exif, noisy_jpeg, png, png_bomb};
use crate::media::{id_num, media_dir, names_in, wait_ready};
use crate::ws::Ws;

const TUS: &str = "1.0.0";

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `POST /api/uploads`: the status and the `Location`.
async fn tus_create(c: &Client, len: usize, filetype: &str) -> (StatusCode, Option<String>, Value) {
    let res = c
        .req(Method::POST, "/api/uploads")
        .header("tus-resumable", TUS)
        .header("upload-length", len.to_string())
        .header(
            "upload-metadata",
            format!("filename {},filetype {}", b64("photo.jpg"), b64(filetype)),
        )
        .send()
        .await
        .expect("sent");
    let status = res.status();
    assert_eq!(res.headers()["tus-resumable"], TUS);
    let location = res
        .headers()
        .get("location")
        .map(|v| v.to_str().expect("ascii").to_string());
    let body = res.text().await.expect("body");
    (
        status,
        location,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

/// `PATCH` at `offset`: the status, the new offset and the body.
async fn tus_patch(
    c: &Client,
    loc: &str,
    offset: usize,
    bytes: &[u8],
) -> (StatusCode, Option<u64>, Value) {
    let res = c
        .req(Method::PATCH, loc)
        .header("tus-resumable", TUS)
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let offset = res
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body = res.text().await.expect("body");
    (
        status,
        offset,
        serde_json::from_str(&body).unwrap_or(Value::Null),
    )
}

async fn tus_head(c: &Client, loc: &str) -> (StatusCode, Option<u64>) {
    let res = c
        .req(Method::HEAD, loc)
        .header("tus-resumable", TUS)
        .send()
        .await
        .expect("sent");
    let offset = res
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (res.status(), offset)
}

/// Uploads `data` resumably in `chunk`-sized PATCHes; returns the media id.
async fn tus_upload(c: &Client, data: &[u8], filetype: &str, chunk: usize) -> String {
    let (status, loc, v) = tus_create(c, data.len(), filetype).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let loc = loc.expect("a Location");
    let mut at = 0;
    while at < data.len() {
        let end = (at + chunk).min(data.len());
        let (status, offset, v) = tus_patch(c, &loc, at, &data[at..end]).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
        assert_eq!(offset, Some(end as u64));
        at = end;
    }
    loc.rsplit('/').next().expect("id").to_string()
}

async fn fetch_bytes(c: &Client, url: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let res = c.req(Method::GET, url).send().await.expect("sent");
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.expect("body").to_vec())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn a_resumable_photo_becomes_upright_variants_without_its_metadata() {
    let app = spawn_app().await;
    let c = app.user("alice").await;
    // 1200 wide, 800 high as stored; EXIF says turn it to stand upright.
    let jpeg = jpeg_with_exif(1200, 800, 6);
    assert!(contains(&jpeg, SECRET.as_bytes()));

    // The protocol as advertised.
    let res = c
        .req(Method::OPTIONS, "/api/uploads")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["tus-version"], TUS);
    let ext = res.headers()["tus-extension"].to_str().expect("ascii");
    for e in ["creation", "termination", "expiration"] {
        assert!(ext.split(',').any(|x| x == e), "{ext}");
    }

    let (status, loc, v) = tus_create(&c, jpeg.len(), "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let loc = loc.expect("Location");
    assert!(loc.starts_with("/api/uploads/"), "{loc}");
    // Half, then ask where it stands (as a client does after a drop).
    let half = jpeg.len() / 2;
    let (status, offset, _) = tus_patch(&c, &loc, 0, &jpeg[..half]).await;
    assert_eq!(
        (status, offset),
        (StatusCode::NO_CONTENT, Some(half as u64))
    );
    let res = c
        .req(Method::HEAD, &loc)
        .header("tus-resumable", TUS)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["upload-offset"], half.to_string().as_str());
    assert_eq!(
        res.headers()["upload-length"],
        jpeg.len().to_string().as_str()
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().contains_key("upload-expires"));
    let (status, offset, _) = tus_patch(&c, &loc, half, &jpeg[half..]).await;
    assert_eq!(
        (status, offset),
        (StatusCode::NO_CONTENT, Some(jpeg.len() as u64))
    );
    // The last PATCH repeated (its answer lost): the same answer.
    let (status, offset, _) = tus_patch(&c, &loc, jpeg.len(), &[]).await;
    assert_eq!(
        (status, offset),
        (StatusCode::NO_CONTENT, Some(jpeg.len() as u64))
    );

    let id = loc.rsplit('/').next().expect("id");
    let v = wait_ready(&c, id).await;
    assert_eq!(v["kind"], "image");
    assert_eq!(v["sha256"], sha256_hex(&jpeg));
    assert_eq!(v["size_bytes"], jpeg.len());
    // Upright: 800 wide, 1200 high.
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(800), Some(1200))
    );
    let variants = v["variants"].as_array().expect("variants");
    assert_eq!(variants.len(), 2, "{v}");
    assert_eq!(variants[0]["name"], "display");
    assert_eq!(
        (
            variants[0]["width"].as_i64(),
            variants[0]["height"].as_i64()
        ),
        (Some(800), Some(1200))
    );
    assert_eq!(variants[1]["name"], "thumb");
    assert_eq!(
        (
            variants[1]["width"].as_i64(),
            variants[1]["height"].as_i64()
        ),
        (Some(267), Some(400))
    );
    assert!(v["blurhash"].as_str().is_some_and(|h| h.len() >= 6), "{v}");

    for variant in variants {
        for (format, ct) in [("webp", "image/webp"), ("jpeg", "image/jpeg")] {
            let url = variant[format].as_str().expect("url");
            let (status, headers, body) = fetch_bytes(&c, url).await;
            assert_eq!(status, StatusCode::OK, "{url}");
            assert_eq!(headers["content-type"], ct);
            assert!(
                headers["cache-control"]
                    .to_str()
                    .expect("ascii")
                    .contains("immutable")
            );
            assert!(headers.contains_key("etag"));
            // Nothing of the upload's EXIF survives: no description, no
            // GPS, no EXIF block at all.
            assert!(
                !contains(&body, SECRET.as_bytes()),
                "{url} kept the EXIF text"
            );
            assert!(!contains(&body, b"Exif\0\0"), "{url} has an EXIF block");
            let img = image::load_from_memory(&body).expect("decodes").into_rgb8();
            assert_eq!(
                (i64::from(img.width()), i64::from(img.height())),
                (
                    variant["width"].as_i64().expect("w"),
                    variant["height"].as_i64().expect("h")
                )
            );
            // Turned clockwise: the red left half is now on top.
            let top = img.get_pixel(img.width() / 2, img.height() / 8).0;
            let bottom = img.get_pixel(img.width() / 2, img.height() * 7 / 8).0;
            assert!(top[0] > 150 && top[2] < 100, "{url}: top {top:?}");
            assert!(
                bottom[2] > 150 && bottom[0] < 100,
                "{url}: bottom {bottom:?}"
            );
        }
    }
    // A range of a variant, as a browser asks for it.
    let url = variants[0]["webp"].as_str().expect("url");
    let res = c
        .req(Method::GET, url)
        .header("range", "bytes=0-9")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.expect("body").len(), 10);
    // The upload itself, with its EXIF, is gone; no partial file is left.
    let uploads = names_in(&media_dir(&app).join("uploads"));
    assert!(uploads.is_empty(), "{uploads:?}");
}

#[tokio::test]
async fn resumable_uploads_refuse_what_the_protocol_forbids() {
    let app = spawn_with(|c| {
        c.max_upload_bytes = 4 * 1024 * 1024;
        c.user_quota_bytes = 6 * 1024 * 1024;
    })
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let jpeg = jpeg_with_exif(64, 48, 1);

    // No Tus-Resumable: 412, and the version is named.
    let res = alice
        .req(Method::POST, "/api/uploads")
        .header("upload-length", "10")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(res.headers()["tus-version"], TUS);
    // No length; a zero length; over the size limit; not a photo or video.
    let res = alice
        .req(Method::POST, "/api/uploads")
        .header("tus-resumable", TUS)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let (status, _, v) = tus_create(&alice, 0, "image/jpeg").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _, v) = tus_create(&alice, 5 * 1024 * 1024, "image/jpeg").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_error(&v, "payload_too_large");
    let (status, _, v) = tus_create(&alice, 100, "application/pdf").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    // The quota counts unfinished uploads: 4 MB reserved, 3 more refused.
    let (status, big, v) = tus_create(&alice, 4 * 1024 * 1024, "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, _, v) = tus_create(&alice, 3 * 1024 * 1024, "image/jpeg").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("message")
            .contains("quota"),
        "{v}"
    );
    // Given up: its room comes back, its bytes are gone.
    let big = big.expect("Location");
    let (status, _, _) = tus_patch(&alice, &big, 0, &[1, 2, 3]).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let res = alice
        .req(Method::DELETE, &big)
        .header("tus-resumable", TUS)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(tus_head(&alice, &big).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        tus_patch(&alice, &big, 3, &[4]).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _, v) = tus_create(&alice, 3 * 1024 * 1024, "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    let (status, loc, v) = tus_create(&alice, jpeg.len(), "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let loc = loc.expect("Location");
    // A wrong offset: 409, nothing written.
    let (status, _, v) = tus_patch(&alice, &loc, 5, &jpeg[5..10]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_error(&v, "conflict");
    assert_eq!(tus_head(&alice, &loc).await, (StatusCode::OK, Some(0)));
    // Not application/offset+octet-stream: 415.
    let res = alice
        .req(Method::PATCH, &loc)
        .header("tus-resumable", TUS)
        .header("upload-offset", "0")
        .header("content-type", "application/octet-stream")
        .body(jpeg[..10].to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Someone else's upload is not there for them.
    assert_eq!(tus_head(&bob, &loc).await.0, StatusCode::NOT_FOUND);
    let (status, _, v) = tus_patch(&bob, &loc, 0, &jpeg).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    // More bytes than declared: 413, the declared length kept, and then
    // the upload is whole and taken.
    let mut long = jpeg.clone();
    long.extend_from_slice(b"extra bytes past the declared length");
    let (status, _, v) = tus_patch(&alice, &loc, 0, &long).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(
        tus_head(&alice, &loc).await,
        (StatusCode::OK, Some(jpeg.len() as u64))
    );

    // An expired upload is gone: 404, and the sweep removes its bytes.
    let (status, old, v) = tus_create(&alice, jpeg.len(), "image/jpeg").await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let old = old.expect("Location");
    let old_id = old.rsplit('/').next().expect("id").to_string();
    assert_eq!(
        tus_patch(&alice, &old, 0, &jpeg[..10]).await.0,
        StatusCode::NO_CONTENT
    );
    exec(
        &app,
        &format!(
            "UPDATE uploads SET expires_at = 1 WHERE id = {}",
            id_num(&old_id)
        ),
    )
    .await;
    assert_eq!(tus_head(&alice, &old).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        tus_patch(&alice, &old, 10, &jpeg[10..]).await.0,
        StatusCode::NOT_FOUND
    );
    let part = format!("{old_id}.part");
    assert!(names_in(&media_dir(&app).join("uploads")).contains(&part));
    let swept = kith::media::sweep::sweep(&work(&app), kith_core::ids::now_ms())
        .await
        .expect("swept");
    assert_eq!(swept.uploads, 1);
    assert!(!names_in(&media_dir(&app).join("uploads")).contains(&part));
    assert_eq!(
        app.db_count(&format!(
            "SELECT count(*) FROM uploads WHERE id = {}",
            id_num(&old_id)
        ))
        .await,
        0
    );
}

/// Makes two people friends.
async fn befriend_pair(a: &Person, b: &Person) {
    a.http.befriend(&b.http, &b.name).await;
}

/// What the media jobs use, from the running server.
fn work(app: &TestApp) -> kith::media::work::MediaWork {
    kith::media::work::MediaWork::of(&app.state)
}

/// Runs a statement straight on the database file (to age rows).
async fn exec(app: &TestApp, sql: &str) {
    let path = app.data_dir.join("kith.db");
    let sql = sql.to_string();
    tokio::task::spawn_blocking(move || {
        let c = rusqlite::Connection::open(path).expect("open");
        c.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        c.execute_batch(&sql).expect("statement");
    })
    .await
    .expect("task");
}

async fn post_file(c: &Client, filename: &str, ct: &str, data: &[u8]) -> (StatusCode, Value) {
    c.upload("/api/media", filename, ct, data).await
}

#[tokio::test]
async fn bad_images_are_refused_with_a_reason_and_nothing_is_stored() {
    let app = spawn_app().await;
    let c = app.user("alice").await;
    let jpeg = jpeg_with_exif(320, 240, 1);
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "cut.jpg",
            "image/jpeg",
            jpeg[..jpeg.len() / 2].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "truncated",
        ),
        (
            "bomb.png",
            "image/png",
            png_bomb(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "pixels",
        ),
        (
            "photo.heic",
            "image/heic",
            heic(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "HEIC",
        ),
        (
            "fake.png",
            "image/png",
            jpeg.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "declared image/png",
        ),
        (
            "notes.txt",
            "text/plain",
            b"hello, not an image".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "JPEG",
        ),
    ];
    for (name, ct, data, want, says) in &cases {
        let (status, v) = post_file(&c, name, ct, data).await;
        assert_eq!(status, *want, "{name}: {v}");
        let msg = v["error"]["message"].as_str().expect("a message");
        assert!(msg.contains(says), "{name}: {msg}");
        // The same through a resumable upload: refused at the last byte
        // (or at creation, when the declared type is neither kind).
        let (status, loc, v) = tus_create(&c, data.len(), ct).await;
        if !ct.starts_with("image/") {
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {v}");
            continue;
        }
        assert_eq!(status, StatusCode::CREATED, "{name}: {v}");
        let loc = loc.expect("Location");
        let (status, _, v) = tus_patch(&c, &loc, 0, data).await;
        assert_eq!(status, *want, "{name} (tus): {v}");
        assert_eq!(tus_head(&c, &loc).await.0, StatusCode::NOT_FOUND, "{name}");
    }
    assert_eq!(
        names_in(&media_dir(&app).join("uploads")),
        Vec::<String>::new()
    );
    assert_eq!(app.db_count("SELECT count(*) FROM media").await, 0);
    assert_eq!(app.db_count("SELECT count(*) FROM uploads").await, 0);
    assert_eq!(app.db_count("SELECT count(*) FROM jobs").await, 0);
    // The server is fine afterwards: a PNG (with transparency) is taken.
    let (status, v) = post_file(&c, "ok.png", "image/png", &png(300, 200)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    let v = wait_ready(&c, v["id"].as_str().expect("id")).await;
    assert_eq!(
        (v["width"].as_i64(), v["height"].as_i64()),
        (Some(300), Some(200))
    );
}

/// Creates a photo through `POST /api/media`; its id.
async fn photo(c: &Client, w: u16, h: u16) -> String {
    let (status, v) = post_file(c, "p.jpg", "image/jpeg", &jpeg_with_exif(w, h, 1)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    v["id"].as_str().expect("id").to_string()
}

#[tokio::test]
async fn a_post_carries_up_to_ten_items_in_order_with_alt_text() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    // The first resumably, in small pieces; the rest in forms.
    let mut ids = vec![tus_upload(&alice, &jpeg_with_exif(40, 30, 1), "image/jpeg", 100).await];
    for i in 1..11u16 {
        ids.push(photo(&alice, 40 + i, 30).await);
    }
    let items = |n: usize| -> Vec<Value> {
        ids[..n]
            .iter()
            .enumerate()
            .map(|(i, id)| json!({"id": id, "alt": format!("photo {i}")}))
            .collect()
    };
    // Eleven: 422.
    let (status, v) = alice
        .post("/api/posts", json!({"body": "", "media": items(11)}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Alt text too long: 422.
    let (status, v) = alice
        .post(
            "/api/posts",
            json!({"media": [{"id": ids[0], "alt": "a".repeat(1501)}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Someone else's item: 404, and no post is made.
    let theirs = photo(&bob, 20, 20).await;
    let (status, v) = alice
        .post(
            "/api/posts",
            json!({"body": "x", "media": [{"id": ids[0]}, {"id": theirs}]}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(app.db_count("SELECT count(*) FROM posts").await, 0);
    // Ten, with no caption: made, in order, alt texts kept.
    let (status, v) = alice
        .post("/api/posts", json!({"body": "", "media": items(10)}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let post = v["post"]["id"].as_str().expect("id").to_string();
    for id in &ids[..10] {
        wait_ready(&alice, id).await;
    }
    let (_, v) = bob.get(&format!("/api/posts/{post}")).await;
    let media = v["post"]["media"].as_array().expect("media");
    assert_eq!(media.len(), 10);
    for (i, m) in media.iter().enumerate() {
        assert_eq!(m["id"], ids[i].as_str());
        assert_eq!(m["alt"], format!("photo {i}"));
        assert_eq!(m["kind"], "image");
        assert_eq!(m["status"], "ready");
        assert_eq!(m["width"], 40 + i);
        assert!(m["blurhash"].is_string(), "{m}");
        assert_eq!(m["variants"].as_array().expect("variants").len(), 2);
    }
    assert_eq!(v["post"]["media_id"], ids[0].as_str());
    // The feed and the author's page carry the same.
    let (_, feed) = alice.get("/api/feed").await;
    assert_eq!(
        feed["items"][0]["media"].as_array().expect("media").len(),
        10
    );
    // Bob may fetch the photos of a public post.
    let url = media[3]["variants"][1]["webp"].as_str().expect("url");
    assert_eq!(fetch_bytes(&bob, url).await.0, StatusCode::OK);
    // The eleventh, attached to nothing, is Alice's alone.
    assert_eq!(
        bob.get(&format!("/api/media/{}", ids[10])).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        alice.get(&format!("/api/media/{}", ids[10])).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn media_is_seen_exactly_by_who_sees_what_carries_it() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let carol = person(&app, "carol").await;
    befriend_pair(&alice, &bob).await;
    befriend_pair(&alice, &carol).await;
    let a = &alice.http;

    // Friends-only post: friends yes, strangers no, blocked no.
    let p = photo(a, 50, 50).await;
    let (status, v) = a
        .post(
            "/api/posts",
            json!({"body": "friends", "visibility": "friends", "media": [{"id": p}]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    wait_ready(a, &p).await;
    let dave = app.user("dave").await;
    let url = format!("/media/{p}-thumb.webp");
    assert_eq!(fetch_bytes(&bob.http, &url).await.0, StatusCode::OK);
    assert_eq!(fetch_bytes(&dave, &url).await.0, StatusCode::NOT_FOUND);
    let (status, _) = carol.http.put("/api/users/alice/block").await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        fetch_bytes(&carol.http, &url).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        carol.http.get(&format!("/api/media/{p}")).await.0,
        StatusCode::NOT_FOUND
    );

    // A chat message's photo: its members only; sync replays it.
    let conv = crate::helpers::direct(a, "bob").await;
    let m = photo(a, 60, 40).await;
    wait_ready(a, &m).await;
    let mut ws_a = Ws::open(&app, &alice).await;
    let mut ws_b = Ws::open(&app, &bob).await;
    ws_a.send(
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "m1",
        "body": "", "media": [{"id": m, "alt": "a view"}]}),
    )
    .await;
    let ack = ws_a.next_of("ack").await;
    assert!(ack["seq"].is_number(), "{ack}");
    let got = ws_b.next_of("message").await;
    assert_eq!(got["media"][0]["id"], m.as_str());
    // The sender's picture comes with the message (here the default).
    assert!(
        got["sender_avatar"]["small"]
            .as_str()
            .is_some_and(|u| u.ends_with("/avatar.svg")),
        "{got}"
    );
    assert_eq!(got["media"][0]["alt"], "a view");
    assert_eq!(got["media"][0]["status"], "ready");
    let murl = format!("/media/{m}-display.jpg");
    assert_eq!(fetch_bytes(&bob.http, &murl).await.0, StatusCode::OK);
    assert_eq!(fetch_bytes(&dave, &murl).await.0, StatusCode::NOT_FOUND);
    ws_b.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    let replayed = ws_b.next_of("message").await;
    assert_eq!(replayed["media"][0]["id"], m.as_str());
    let (_, page) = bob
        .http
        .get(&format!("/api/conversations/{conv}/messages"))
        .await;
    assert_eq!(page["items"][0]["media"][0]["alt"], "a view", "{page}");
    // Someone else's item on a message: refused, nothing sent.
    let theirs = photo(&dave, 10, 10).await;
    ws_a.send(
        json!({"type": "send", "conversation_id": conv, "client_msg_id": "m2",
        "body": "x", "media": [{"id": theirs}]}),
    )
    .await;
    let err = ws_a.next_of("error").await;
    assert_eq!(err["code"], "not_found", "{err}");
}

#[tokio::test]
async fn an_avatar_replaces_the_default_everywhere_a_user_appears() {
    let app = spawn_app().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    befriend_pair(&alice, &bob).await;
    let a = &alice.http;
    let (_, me) = a.get("/api/me").await;
    let default = me["user"]["avatar"].clone();
    assert_eq!(default["custom"], false, "{me}");
    let svg_url = default["small"].as_str().expect("url").to_string();
    let (status, headers, svg) = fetch_bytes(&bob.http, &svg_url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/svg+xml");
    let svg = String::from_utf8(svg).expect("utf-8");
    assert!(svg.contains("<svg") && svg.contains(">A<"), "{svg}");

    // A wide photo as the raw body: its centred square becomes the avatar.
    let res = a
        .req(Method::PUT, "/api/me/avatar")
        .header("content-type", "image/jpeg")
        .body(jpeg_with_exif(900, 300, 1))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["kind"], "avatar");
    let id = v["id"].as_str().expect("id").to_string();
    wait_ready(a, &id).await;
    a.new_post("hello", "public").await;
    // Signed-in users are cached for 10 s: the avatar shows within that.
    let avatar = crate::wait::eventually("the avatar shows", Duration::from_secs(60), || async {
        let (_, me) = a.get("/api/me").await;
        (me["user"]["avatar"]["custom"] == true).then(|| me["user"]["avatar"].clone())
    })
    .await;
    for (size, key) in [(48, "small"), (96, "medium"), (256, "large")] {
        let url = avatar[key].as_str().expect("url");
        assert!(url.ends_with(&format!("-a{size}.webp")), "{url}");
        let (status, _, body) = fetch_bytes(&bob.http, url).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        let img = image::load_from_memory(&body).expect("webp");
        assert_eq!((img.width(), img.height()), (300, 300).min((size, size)));
    }
    // Wherever Alice appears.
    let (_, feed) = bob.http.get("/api/feed").await;
    assert_eq!(feed["items"][0]["author"]["avatar"], avatar, "{feed}");
    let (_, friends) = bob.http.get("/api/friends").await;
    assert_eq!(friends["items"][0]["user"]["avatar"], avatar, "{friends}");
    let (_, found) = bob.http.get("/api/search?q=alice").await;
    assert_eq!(found["users"][0]["avatar"], avatar, "{found}");
    let (_, profile) = bob.http.get("/api/users/alice").await;
    assert!(
        profile
            .to_string()
            .contains(avatar["small"].as_str().expect("url")),
        "{profile}"
    );
    // A stranger who is blocked sees no avatar file.
    let (status, _) = a.put("/api/users/bob/block").await;
    assert!(status.is_success());
    assert_eq!(
        fetch_bytes(&bob.http, avatar["small"].as_str().expect("url"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // Removed: back to the default.
    let (status, _) = a.delete("/api/me/avatar").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, me) = a.get("/api/me").await;
    assert_eq!(me["user"]["avatar"]["custom"], false, "{me}");
    // A video is not an avatar.
    let res = a
        .req(Method::PUT, "/api/me/avatar")
        .header("content-type", "video/mp4")
        .body(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2".to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn media_attached_to_nothing_for_a_day_is_swept_with_its_files() {
    let app = spawn_app().await;
    let c = app.user("alice").await;
    let kept = photo(&c, 30, 30).await;
    let orphan = photo(&c, 31, 31).await;
    wait_ready(&c, &kept).await;
    wait_ready(&c, &orphan).await;
    let (status, v) = c.post("/api/posts", json!({"media": [{"id": kept}]})).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let day_ago = kith_core::ids::now_ms() - 25 * 60 * 60 * 1000;
    exec(&app, &format!("UPDATE media SET created_at = {day_ago}")).await;
    let files = |id: &str| {
        names_in(&media_dir(&app))
            .into_iter()
            .filter(|n| n.starts_with(id))
            .count()
    };
    assert_eq!(files(&orphan), 4);
    let swept = kith::media::sweep::sweep(&work(&app), kith_core::ids::now_ms())
        .await
        .expect("swept");
    assert_eq!(swept.media, 1);
    assert_eq!(files(&orphan), 0);
    assert_eq!(files(&kept), 4);
    assert_eq!(
        c.get(&format!("/api/media/{orphan}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.get(&format!("/api/media/{kept}")).await.0, StatusCode::OK);
}

/// A body sent at `rate` bytes a second, in pieces every 100 ms.
fn throttled(data: Vec<u8>, rate: usize) -> reqwest::Body {
    let piece = (rate / 10).max(1);
    let stream = futures_util::stream::unfold((data, 0usize), move |(data, at)| async move {
        if at >= data.len() {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let end = (at + piece).min(data.len());
        let chunk = bytes::Bytes::copy_from_slice(&data[at..end]);
        Some((Ok::<_, std::io::Error>(chunk), (data, end)))
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn a_slow_upload_of_a_minute_succeeds_both_ways() {
    let app = spawn_app().await;
    let c = app.user("alice").await;
    // 150 KB/s for 60 s: 9 MB, twice the 30 s that any other request gets.
    const RATE: usize = 150_000;
    let mut jpeg = noisy_jpeg(1900, 1400, 7);
    // Pad to ~9 MB after the image's end (bytes after EOI are allowed).
    jpeg.resize(RATE * 60, 0);
    let http = reqwest::Client::builder()
        .cookie_store(false)
        .timeout(Duration::from_secs(240))
        .build()
        .expect("client");
    let cookie = cookie_of(&app, "alice").await;

    let simple = async {
        let (ct, body) = crate::helpers::multipart("slow.jpg", "image/jpeg", &jpeg);
        let started = Instant::now();
        let res = http
            .post(app.url("/api/media"))
            .header("cookie", &cookie)
            .header("content-type", ct)
            .body(throttled(body, RATE))
            .send()
            .await
            .expect("sent");
        (
            res.status(),
            started.elapsed(),
            res.text().await.expect("body"),
        )
    };
    let resumable = async {
        let (status, loc, v) = tus_create(&c, jpeg.len(), "image/jpeg").await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let started = Instant::now();
        let res = http
            .patch(app.url(&loc.expect("Location")))
            .header("cookie", &cookie)
            .header("tus-resumable", TUS)
            .header("upload-offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body(throttled(jpeg.clone(), RATE))
            .send()
            .await
            .expect("sent");
        (
            res.status(),
            started.elapsed(),
            res.text().await.expect("body"),
        )
    };
    let ((s1, t1, b1), (s2, t2, b2)) = tokio::join!(simple, resumable);
    assert_eq!(s1, StatusCode::ACCEPTED, "{b1}");
    assert_eq!(s2, StatusCode::NO_CONTENT, "{b2}");
    assert!(
        t1 > Duration::from_secs(45) && t2 > Duration::from_secs(45),
        "{t1:?} {t2:?}"
    );
}

/// Alice's session cookie, signed in afresh.
async fn cookie_of(app: &TestApp, name: &str) -> String {
    let res = app
        .bare_client()
        .req(Method::POST, "/api/auth/login")
        .json(&json!({"username": name, "password": crate::helpers::password_of(name)}))
        .send()
        .await
        .expect("sent");
    assert!(res.status().is_success());
    let set = res.headers()["set-cookie"].to_str().expect("ascii");
    set.split(';').next().expect("cookie").to_string()
}

#[tokio::test]
async fn tus_js_client_uploads_aborts_and_resumes_unchanged() {
    let app = spawn_app().await;
    let c = app.user("alice").await;
    let cookie = cookie_of(&app, "alice").await;
    let mut data = noisy_jpeg(1200, 900, 11);
    data.resize(3 * 1024 * 1024, 0);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("photo.jpg");
    std::fs::write(&file, &data).expect("write");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/e2e/tus-client.mjs");
    let out = crate::wait::within_for(
        "tus-js-client",
        tokio::process::Command::new("node")
            .arg(script)
            .arg(app.url(""))
            .arg(&cookie)
            .arg(&file)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("node runs (scripts/test.sh installs e2e/node_modules)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    let aborted = result["abortedAt"].as_u64().expect("abortedAt");
    let resumed = result["resumedFrom"].as_u64().expect("resumedFrom");
    assert!(aborted >= data.len() as u64 / 2, "{result}");
    // It resumed where the server had stopped, not from zero.
    assert!(resumed > 0 && resumed <= aborted, "{result}");
    let url = result["url"].as_str().expect("url");
    let id = url.rsplit('/').next().expect("id");
    let v = wait_ready(&c, id).await;
    assert_eq!(v["sha256"], sha256_hex(&data), "{v}");
}
