//! Video upload, transcoding and serving with a real ffmpeg.
//!
//! Test clips come from ffmpeg's lavfi sources and are cached under the
//! target's temp dir (made under a temporary name, renamed when complete).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Client, TIMEOUT, TestApp, assert_error, signup_with_cookie, spawn_app, spawn_with, within,
};
use crate::ws::Ws;

/// The bound on a wait that includes a transcode (at nice 19, on a busy box).
const TRANSCODE_WAIT: Duration = Duration::from_secs(180);
/// How often a poll looks again.
const POLL: Duration = Duration::from_millis(100);

// ---- Clips -----------------------------------------------------------------

/// A test clip: `w`x`h`, `secs` long, H.264 + AAC; the moov box at the end
/// unless `faststart`. Made once, then read from the cache.
async fn clip_file(w: u32, h: u32, secs: u32, faststart: bool) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kith-media-clips");
    std::fs::create_dir_all(&dir).expect("clip dir");
    let name = format!(
        "{w}x{h}-{secs}s{}.mp4",
        if faststart { "-faststart" } else { "" }
    );
    let path = dir.join(&name);
    if path.is_file() {
        return path;
    }
    let tmp = dir.join(format!(
        ".{name}.{}.{}.mp4",
        std::process::id(),
        rand_suffix()
    ));
    crate::clip::make_clip(&tmp, w, h, secs, faststart).await;
    std::fs::rename(&tmp, &path).expect("rename the clip into place");
    path
}

pub(crate) async fn clip(w: u32, h: u32, secs: u32) -> Vec<u8> {
    std::fs::read(clip_file(w, h, secs, false).await).expect("read clip")
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Runs ffprobe on `file`: its streams and format, as JSON.
async fn ffprobe(file: &Path) -> Value {
    let out = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new("ffprobe")
            .args(["-v", "error", "-show_entries"])
            .args([
                "stream=codec_type,codec_name,width,height:format=duration,format_name",
                "-of",
                "json",
            ])
            .arg(file)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("ffprobe timed out")
    .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe JSON")
}

fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["codec_type"] == kind)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---- Requests ----------------------------------------------------------------

/// A multipart/form-data body with one file field; returns the content
/// type to send it with.
fn multipart(field: &str, filename: &str, content_type: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("kith-test-boundary-{:016x}", rand_suffix());
    let mut body = Vec::with_capacity(data.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!(
            "Content-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
             Content-Type: {content_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads `data` as `clip.mp4` in the field `file`.
async fn upload(c: &Client, data: &[u8]) -> (StatusCode, Value) {
    let (ct, body) = multipart("file", "clip.mp4", "video/mp4", data);
    c.raw(Method::POST, "/api/media", &ct, body).await
}

/// Uploads a clip that must be accepted; returns its media id.
pub(crate) async fn upload_ok(c: &Client, data: &[u8]) -> String {
    let (status, v) = upload(c, data).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], "queued", "{v}");
    v["id"].as_str().expect("media id").to_string()
}

/// Sends a request; returns its status, headers and raw body.
async fn fetch(req: RequestBuilder) -> (StatusCode, HeaderMap, Vec<u8>) {
    let res = req.send().await.expect("request sent");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.bytes().await.expect("body read").to_vec();
    (status, headers, body)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Polls `GET /api/media/{id}` until its status is one of `until`; fails
/// after `bound`.
async fn wait_status(c: &Client, id: &str, until: &[&str], bound: Duration) -> Value {
    let path = format!("/api/media/{id}");
    let mut last = Value::Null;
    let waited = tokio::time::timeout(bound, async {
        loop {
            let (status, v) = c.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            if until.iter().any(|s| v["status"] == *s) {
                return v;
            }
            last = v;
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("media {id} not {until:?} after {bound:?}; last: {last}"))
}

pub(crate) async fn wait_ready(c: &Client, id: &str) -> Value {
    let v = wait_status(c, id, &["ready", "failed"], TRANSCODE_WAIT).await;
    assert_eq!(v["status"], "ready", "{v}");
    v
}

/// The integer behind an id's text (for queries straight on the database).
pub(crate) fn id_num(id: &str) -> i64 {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    id.bytes().fold(0i64, |v, b| {
        let d = ALPHABET
            .iter()
            .position(|&a| a == b)
            .unwrap_or_else(|| panic!("not an id: {id}"));
        v * 32 + d as i64
    })
}

/// Names in a directory (none when it does not exist).
pub(crate) fn names_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("listing {}: {e}", dir.display()),
    }
}

pub(crate) fn media_dir(app: &TestApp) -> PathBuf {
    app.data_dir.join("media")
}

fn uploads_left(app: &TestApp) -> Vec<String> {
    names_in(&media_dir(app).join("uploads"))
}

// ---- Transcoding -------------------------------------------------------------

#[tokio::test]
async fn a_1080p_upload_is_queued_at_once_and_becomes_a_720p_faststart_mp4_and_a_poster() {
    let data = clip(1920, 1080, 2).await;
    let app = spawn_app().await;
    let alice = app.user("alice").await;

    let id = upload_ok(&alice, &data).await;
    // Answered before the transcode: the upload is not ready yet.
    let (status, v) = alice.get(&format!("/api/media/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        v["status"] == "queued" || v["status"] == "processing",
        "{v}"
    );
    assert_eq!(v["id"], json!(id));
    assert!(v["url"].is_null() && v["poster_url"].is_null(), "{v}");

    let v = wait_ready(&alice, &id).await;
    assert_eq!(v["width"], 1280, "{v}");
    assert_eq!(v["height"], 720, "{v}");
    let ms = v["duration_ms"].as_i64().expect("duration_ms");
    assert!((1700..=2300).contains(&ms), "duration {ms} ms: {v}");
    assert_eq!(v["progress"], 1.0, "{v}");
    assert!(v["error"].is_null(), "{v}");
    let url = v["url"].as_str().expect("url");
    let poster = v["poster_url"].as_str().expect("poster_url");
    assert_eq!(url, format!("/media/{id}.mp4"));
    assert_eq!(poster, format!("/media/{id}.jpg"));

    let (status, h, mp4) = fetch(alice.req(Method::GET, url)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), Some("video/mp4"));
    let moov = find(&mp4, b"moov").expect("a moov box");
    let mdat = find(&mp4, b"mdat").expect("an mdat box");
    assert!(moov < mdat, "not faststart: moov at {moov}, mdat at {mdat}");
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("out.mp4");
    std::fs::write(&file, &mp4).expect("write");
    let probe = ffprobe(&file).await;
    let video = stream(&probe, "video").unwrap_or_else(|| panic!("no video: {probe}"));
    assert_eq!(video["codec_name"], "h264", "{probe}");
    assert_eq!(video["width"], 1280, "{probe}");
    assert_eq!(video["height"], 720, "{probe}");
    let audio = stream(&probe, "audio").unwrap_or_else(|| panic!("no audio: {probe}"));
    assert_eq!(audio["codec_name"], "aac", "{probe}");

    let (status, h, jpg) = fetch(alice.req(Method::GET, poster)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "content-type"), Some("image/jpeg"));
    assert!(jpg.starts_with(&[0xFF, 0xD8, 0xFF]), "not a JPEG");
    let file = tmp.path().join("poster.jpg");
    std::fs::write(&file, &jpg).expect("write");
    let probe = ffprobe(&file).await;
    let img = stream(&probe, "video").unwrap_or_else(|| panic!("no image: {probe}"));
    assert_eq!(
        (img["width"].clone(), img["height"].clone()),
        (json!(1280), json!(720))
    );

    // Outputs are in place; no temporary file is left beside them.
    let mut names = names_in(&media_dir(&app));
    names.sort();
    assert_eq!(
        names,
        [format!("{id}.jpg"), format!("{id}.mp4"), "uploads".into()]
    );
}

#[tokio::test]
async fn portrait_keeps_its_aspect_and_small_clips_are_not_upscaled() {
    let portrait = clip(720, 1280, 1).await;
    let small = clip(320, 240, 1).await;
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let p = upload_ok(&alice, &portrait).await;
    let s = upload_ok(&alice, &small).await;
    let tmp = tempfile::tempdir().expect("temp dir");

    let v = wait_ready(&alice, &p).await;
    let (w, h) = (
        v["width"].as_i64().expect("width"),
        v["height"].as_i64().expect("height"),
    );
    assert!((700..=720).contains(&h), "portrait height {h}: {v}");
    assert_eq!(w % 2, 0, "odd width {w}");
    assert_eq!(h % 2, 0, "odd height {h}");
    let aspect = (w as f64 / h as f64) / (720.0 / 1280.0);
    assert!(
        (0.98..=1.02).contains(&aspect),
        "{w}x{h} changed the aspect"
    );
    let (status, _, mp4) = fetch(alice.req(Method::GET, &format!("/media/{p}.mp4"))).await;
    assert_eq!(status, StatusCode::OK);
    let file = tmp.path().join("p.mp4");
    std::fs::write(&file, &mp4).expect("write");
    let probe = ffprobe(&file).await;
    let video = stream(&probe, "video").expect("video stream");
    assert_eq!(
        (video["width"].clone(), video["height"].clone()),
        (json!(w), json!(h))
    );

    let v = wait_ready(&alice, &s).await;
    assert_eq!(
        (v["width"].clone(), v["height"].clone()),
        (json!(320), json!(240)),
        "{v}"
    );
    let (status, _, mp4) = fetch(alice.req(Method::GET, &format!("/media/{s}.mp4"))).await;
    assert_eq!(status, StatusCode::OK);
    let file = tmp.path().join("s.mp4");
    std::fs::write(&file, &mp4).expect("write");
    let probe = ffprobe(&file).await;
    let video = stream(&probe, "video").expect("video stream");
    assert_eq!(
        (video["width"].clone(), video["height"].clone()),
        (json!(320), json!(240))
    );
}

// ---- Live progress -----------------------------------------------------------

/// A live socket of `cookie`'s user, its greeting read.
async fn open_ws(app: &TestApp, cookie: &str) -> Ws {
    let origin = format!("http://{}", app.addr);
    let (mut ws, status) = Ws::connect(app.addr, Some(cookie), Some(&origin))
        .await
        .expect("WebSocket handshake");
    assert_eq!(status, 101);
    ws.next_of("hello").await;
    ws
}

#[tokio::test]
async fn the_owner_hears_progress_live_until_ready() {
    let data = clip(1920, 1080, 3).await;
    let app = spawn_app().await;
    let (alice, cookie) = signup_with_cookie(&app, "alice").await;
    let mut ws = open_ws(&app, &cookie).await;

    let id = upload_ok(&alice, &data).await;
    let deadline = Instant::now() + TRANSCODE_WAIT;
    let mut frames: Vec<Value> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let f = ws.next_within(left).await.expect("no frame in time");
        if f["type"] != "media" || f["id"] != json!(id) {
            continue;
        }
        let done = f["status"] == "ready" || f["status"] == "failed";
        frames.push(f);
        if done {
            break;
        }
    }
    let last = frames.last().expect("a frame");
    assert_eq!(last["status"], "ready", "{frames:#?}");
    assert_eq!(last["progress"], 1.0, "{last}");
    assert_eq!(last["width"], 1280, "{last}");
    assert_eq!(last["url"], json!(format!("/media/{id}.mp4")), "{last}");
    assert_eq!(
        last["poster_url"],
        json!(format!("/media/{id}.jpg")),
        "{last}"
    );
    // The frame is the media object as GET shows it, tagged.
    let (_, got) = alice.get(&format!("/api/media/{id}")).await;
    let mut untagged = last.clone();
    untagged.as_object_mut().expect("an object").remove("type");
    assert_eq!(untagged, got);
    // Progress came before the end, and never went back.
    assert!(
        frames.len() >= 2,
        "only the final frame was pushed: {frames:#?}"
    );
    let rank = |s: &Value| match s.as_str() {
        Some("queued") => 0,
        Some("processing") => 1,
        Some("ready") => 2,
        other => panic!("unexpected status {other:?}"),
    };
    for pair in frames.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (pa, pb) = (
            a["progress"].as_f64().expect("progress"),
            b["progress"].as_f64().expect("progress"),
        );
        assert!(pa <= pb, "progress went back: {frames:#?}");
        assert!(
            rank(&a["status"]) <= rank(&b["status"]),
            "status went back: {frames:#?}"
        );
    }
    for f in &frames[..frames.len() - 1] {
        assert!(
            (0.0..1.0).contains(&f["progress"].as_f64().expect("progress")),
            "{f}"
        );
        assert!(f["url"].is_null(), "a url before ready: {f}");
    }
}

// ---- Serving -----------------------------------------------------------------

#[tokio::test]
async fn outputs_are_served_with_ranges_etags_and_long_caching() {
    let data = clip(320, 240, 1).await;
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let id = upload_ok(&alice, &data).await;
    wait_ready(&alice, &id).await;
    let path = format!("/media/{id}.mp4");

    let (status, h, full) = fetch(alice.req(Method::GET, &path)).await;
    assert_eq!(status, StatusCode::OK);
    let len = full.len();
    assert!(len > 1000, "a {len}-byte video");
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));
    assert_eq!(header(&h, "content-length"), Some(len.to_string().as_str()));
    let cache = header(&h, "cache-control").expect("cache-control");
    assert!(cache.contains("immutable"), "{cache}");
    assert!(cache.contains("max-age=31536000"), "{cache}");
    assert!(
        cache.contains("private"),
        "not on a public post, yet shared caches may keep it: {cache}"
    );
    let etag = header(&h, "etag").expect("etag").to_string();

    let (status, h, body) =
        fetch(alice.req(Method::GET, &path).header("range", "bytes=0-99")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes 0-99/{len}").as_str())
    );
    assert_eq!(header(&h, "content-length"), Some("100"));
    assert_eq!(body, full[..100]);

    let (status, h, body) = fetch(
        alice
            .req(Method::GET, &path)
            .header("range", "bytes=100-199"),
    )
    .await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes 100-199/{len}").as_str())
    );
    assert_eq!(body, full[100..200]);

    let (status, h, body) = fetch(alice.req(Method::GET, &path).header("range", "bytes=-50")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes {}-{}/{len}", len - 50, len - 1).as_str())
    );
    assert_eq!(body, full[len - 50..]);

    let (status, h, _) = fetch(
        alice
            .req(Method::GET, &path)
            .header("range", format!("bytes={len}-")),
    )
    .await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes */{len}").as_str())
    );

    let (status, h, body) =
        fetch(alice.req(Method::GET, &path).header("if-none-match", &etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(header(&h, "etag"), Some(etag.as_str()));
    // Another validator does not match.
    let (status, _, body) = fetch(
        alice
            .req(Method::GET, &path)
            .header("if-none-match", "\"nope\""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, full);
    // The same file keeps its ETag.
    let (_, h, _) = fetch(alice.req(Method::GET, &path)).await;
    assert_eq!(header(&h, "etag"), Some(etag.as_str()));

    // The poster is served the same way.
    let poster = format!("/media/{id}.jpg");
    let (status, h, jpg) = fetch(alice.req(Method::GET, &poster)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(jpg.starts_with(&[0xFF, 0xD8, 0xFF]));
    let cache = header(&h, "cache-control").expect("cache-control");
    assert!(
        cache.contains("immutable") && cache.contains("max-age=31536000"),
        "{cache}"
    );
    let (status, _, head) =
        fetch(alice.req(Method::GET, &poster).header("range", "bytes=0-2")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(head, [0xFF, 0xD8, 0xFF]);
}

#[tokio::test]
async fn media_is_its_owners_alone_until_posted() {
    let data = clip(320, 240, 1).await;
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let id = upload_ok(&alice, &data).await;
    wait_ready(&alice, &id).await;
    for path in [format!("/media/{id}.mp4"), format!("/media/{id}.jpg")] {
        let (status, _, _) = fetch(alice.req(Method::GET, &path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }

    // Another user: as if it did not exist.
    let (status, v) = bob.get(&format!("/api/media/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_error(&v, "not_found");
    for path in [format!("/media/{id}.mp4"), format!("/media/{id}.jpg")] {
        let (status, _, body) = fetch(bob.req(Method::GET, &path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!body.starts_with(&[0xFF, 0xD8]), "bob got bytes of {path}");
        let (status, _, _) = fetch(bob.req(Method::GET, &path).header("range", "bytes=0-9")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path} with a range");
    }

    // Signed out.
    let anon = app.client();
    let (status, v) = anon.get(&format!("/api/media/{id}")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
    assert_error(&v, "unauthorized");
    for path in [format!("/media/{id}.mp4"), format!("/media/{id}.jpg")] {
        let (status, _, _) = fetch(anon.req(Method::GET, &path)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, v) = upload(&anon, &data).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");

    // Unknown and malformed ids, other names.
    let unknown = "1b3kq9z2m4x0p";
    assert_ne!(unknown, id);
    for path in [
        format!("/api/media/{unknown}"),
        "/api/media/not-an-id!".to_string(),
        "/api/media/ZZZZ".to_string(),
        format!("/media/{unknown}.mp4"),
        format!("/media/{unknown}.jpg"),
        "/media/not-an-id.mp4".to_string(),
        "/media/x.txt".to_string(),
        format!("/media/{id}.txt"),
        format!("/media/{id}"),
        format!("/media/{id}.mp4.jpg"),
        "/media/.mp4".to_string(),
    ] {
        let (status, _, _) = fetch(alice.req(Method::GET, &path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// The statuses of the media's three addresses for `c`.
async fn media_statuses(c: &Client, id: &str) -> Vec<StatusCode> {
    let mut out = vec![c.get(&format!("/api/media/{id}")).await.0];
    for path in [format!("/media/{id}.mp4"), format!("/media/{id}.jpg")] {
        out.push(fetch(c.req(Method::GET, &path)).await.0);
    }
    out
}

#[tokio::test]
async fn a_block_hides_the_media_of_a_public_post_both_ways() {
    let data = clip(320, 240, 1).await;
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let id = upload_ok(&alice, &data).await;
    wait_ready(&alice, &id).await;
    let (s, v) = alice
        .post(
            "/api/posts",
            json!({"body": "a clip for everyone", "visibility": "public", "media_id": id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let post = v["post"]["id"].as_str().expect("post id").to_string();
    let ok = vec![StatusCode::OK; 3];
    let gone = vec![StatusCode::NOT_FOUND; 3];
    assert_eq!(media_statuses(&bob, &id).await, ok, "before the block");

    // The author blocks bob: the post and its video and poster are gone
    // for him, as if they never existed; others still see them.
    let (s, v) = alice.put("/api/users/bob/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, _) = bob.get(&format!("/api/posts/{post}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        media_statuses(&bob, &id).await,
        gone,
        "blocked by the author"
    );
    assert_eq!(media_statuses(&carol, &id).await, ok, "a third user");
    assert_eq!(media_statuses(&alice, &id).await, ok, "the owner");

    // Lifted, then the other way round: the viewer's own block hides it
    // from them too.
    let (s, v) = alice.delete("/api/users/bob/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(media_statuses(&bob, &id).await, ok, "after the unblock");
    let (s, v) = bob.put("/api/users/alice/block").await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(media_statuses(&bob, &id).await, gone, "bob blocked alice");
    assert_eq!(media_statuses(&alice, &id).await, ok, "the owner, blocked");
}

// ---- Bad input ---------------------------------------------------------------

#[tokio::test]
async fn what_is_not_a_video_is_refused_and_leaves_nothing_behind() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;

    // Text named like a video.
    let (status, v) = upload(
        &alice,
        b"hello, this is plain text and not a video at all\n",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    assert_error(&v, "unsupported_media_type");
    assert_eq!(uploads_left(&app), Vec::<String>::new());

    // The right magic bytes, then garbage: ffprobe refuses it.
    let mut fake = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
    fake.extend((0..4000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let (status, v) = upload(&alice, &fake).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    assert_error(&v, "unsupported_media_type");
    assert_eq!(uploads_left(&app), Vec::<String>::new());

    // A form without a `file` field.
    let (ct, body) = multipart("video", "clip.mp4", "video/mp4", &clip(320, 240, 1).await);
    let (status, v) = alice.raw(Method::POST, "/api/media", &ct, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_error(&v, "bad_request");
    assert_eq!(uploads_left(&app), Vec::<String>::new());

    // Not a form at all.
    let (status, v) = alice
        .raw(
            Method::POST,
            "/api/media",
            "video/mp4",
            clip(320, 240, 1).await,
        )
        .await;
    assert!(
        status == StatusCode::UNSUPPORTED_MEDIA_TYPE || status == StatusCode::BAD_REQUEST,
        "{status} {v}"
    );
    let (status, v) = alice.post("/api/media", json!({"file": "clip.mp4"})).await;
    assert!(
        status == StatusCode::UNSUPPORTED_MEDIA_TYPE || status == StatusCode::BAD_REQUEST,
        "{status} {v}"
    );
    // A multipart content type without a boundary.
    let (status, v) = alice
        .raw(
            Method::POST,
            "/api/media",
            "multipart/form-data",
            b"x".to_vec(),
        )
        .await;
    assert!(
        status == StatusCode::UNSUPPORTED_MEDIA_TYPE || status == StatusCode::BAD_REQUEST,
        "{status} {v}"
    );

    assert_eq!(uploads_left(&app), Vec::<String>::new());
    assert_eq!(app.db_count("SELECT COUNT(*) FROM media").await, 0);
    assert_eq!(app.db_count("SELECT COUNT(*) FROM jobs").await, 0);
    // The server is fine afterwards: a real video is taken.
    upload_ok(&alice, &clip(320, 240, 1).await).await;
    assert_eq!(uploads_left(&app).len(), 1);
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413_and_leaves_nothing_on_disk() {
    let tiny = clip(160, 120, 1).await;
    assert!(tiny.len() < 90_000, "the tiny clip is {} bytes", tiny.len());
    let app = spawn_with(|c| c.max_upload_bytes = 100_000).await;
    let alice = app.user("alice").await;

    // Looks like an MP4 from its first bytes: only its size is wrong.
    let mut big = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41".to_vec();
    big.resize(300_000, 0x5a);
    let (status, v) = upload(&alice, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_error(&v, "payload_too_large");
    assert_eq!(uploads_left(&app), Vec::<String>::new());
    assert_eq!(app.db_count("SELECT COUNT(*) FROM media").await, 0);

    // Just over the limit (the form around it is not counted).
    let mut over = tiny.clone();
    over.resize(100_001, 0);
    let (status, v) = upload(&alice, &over).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(uploads_left(&app), Vec::<String>::new());

    // Under the limit is fine.
    let id = upload_ok(&alice, &tiny).await;
    assert_eq!(uploads_left(&app), [id]);
    assert_eq!(app.db_count("SELECT COUNT(*) FROM media").await, 1);
}

/// Asserts media `id` failed for good: a clear error, its job dead after
/// every attempt, no output and no temporary file left.
async fn assert_failed_for_good(app: &TestApp, c: &Client, id: &str) {
    let v = wait_status(c, id, &["ready", "failed"], TRANSCODE_WAIT).await;
    assert_eq!(v["status"], "failed", "{v}");
    let error = v["error"].as_str().expect("an error");
    assert!(error.len() > 10, "an unclear error: {v}");
    assert!(v["url"].is_null() && v["poster_url"].is_null(), "{v}");
    let n = id_num(id);
    let job = format!("(SELECT job_id FROM media WHERE id = {n})");
    let dead = within(async {
        loop {
            let dead = app
                .db_count(&format!(
                    "SELECT COUNT(*) FROM jobs WHERE id = {job} AND status = 'dead'"
                ))
                .await;
            if dead == 1 {
                return dead;
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    assert_eq!(dead, 1);
    assert_eq!(
        app.db_count(&format!("SELECT attempts FROM jobs WHERE id = {job}"))
            .await,
        3,
        "every attempt was used"
    );
    let left: Vec<String> = names_in(&media_dir(app))
        .into_iter()
        .filter(|n| n.contains(id))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "outputs of a failed transcode");
}

#[tokio::test]
async fn a_broken_video_is_refused_or_fails_for_good() {
    let app = spawn_with(|c| c.job_retry_base = Duration::from_millis(100)).await;
    let alice = app.user("alice").await;

    // The first half of an MP4 whose moov box is at the end.
    let whole = clip(320, 240, 2).await;
    let moov = find(&whole, b"moov").expect("moov");
    let mdat = find(&whole, b"mdat").expect("mdat");
    assert!(mdat < moov, "the clip is faststart");
    let half = &whole[..whole.len() / 2];
    assert!(half.len() < moov, "the cut keeps the moov box");
    let (status, v) = upload(&alice, half).await;
    match status {
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            assert_error(&v, "unsupported_media_type");
            assert_eq!(uploads_left(&app), Vec::<String>::new());
            assert_eq!(app.db_count("SELECT COUNT(*) FROM media").await, 0);
            assert_eq!(app.db_count("SELECT COUNT(*) FROM jobs").await, 0);
        }
        StatusCode::ACCEPTED => {
            let id = v["id"].as_str().expect("id").to_string();
            assert_failed_for_good(&app, &alice, &id).await;
        }
        other => panic!("a truncated video: {other} {v}"),
    }

    // Headers that ffprobe reads fine, frames that cannot be decoded: it
    // passes the upload checks and fails on the worker, every attempt.
    let mut zeroed = std::fs::read(clip_file(320, 240, 2, true).await).expect("read clip");
    let moov = find(&zeroed, b"moov").expect("moov");
    let mdat = find(&zeroed, b"mdat").expect("mdat");
    assert!(moov < mdat, "the clip is not faststart");
    zeroed[mdat + 4..].fill(0);
    let id = upload_ok(&alice, &zeroed).await;
    assert_failed_for_good(&app, &alice, &id).await;
    let (_, v) = alice.get(&format!("/api/media/{id}")).await;
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("ffmpeg")),
        "the error does not say what failed: {v}"
    );
}

// ---- Without ffmpeg ----------------------------------------------------------

#[tokio::test]
async fn healthz_tells_whether_ffmpeg_is_there_and_without_it_uploads_wait() {
    let app = spawn_app().await;
    let (status, h) = app.client().get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["ffmpeg"], true, "{h}");
    assert!(h["workers"].as_u64().is_some_and(|w| w >= 1), "{h}");
    drop(app);

    let app = spawn_with(|c| c.ffmpeg = "/nonexistent/ffmpeg".into()).await;
    let (status, h) = app.client().get("/healthz").await;
    assert_eq!(status, StatusCode::OK, "{h}");
    assert_eq!(h["ffmpeg"], false, "{h}");
    assert_eq!(h["workers"], 0, "{h}");
    let alice = app.user("alice").await;
    // Magic bytes still refuse what is plainly not a video.
    let (status, v) = upload(&alice, b"just some text, honestly").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    let id = upload_ok(&alice, &clip(320, 240, 1).await).await;
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let (status, v) = alice.get(&format!("/api/media/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "queued", "{v}");
        assert_eq!(v["progress"], 0.0, "{v}");
        assert!(v["url"].is_null(), "{v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        app.db_count("SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND attempts = 0")
            .await,
        1
    );
}

// ---- A crash mid-transcode -----------------------------------------------------

/// The real `kith` binary on a data dir; killed when dropped.
struct Server {
    child: tokio::process::Child,
    addr: String,
    log: PathBuf,
}

impl Server {
    async fn start(dir: &Path, n: u32) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = format!("127.0.0.1:{port}");
        let log = dir.join(format!("kith-{n}.log"));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kith"))
            .args(["--listen", &addr, "--data-dir"])
            .arg(dir)
            .args([
                "--no-webtransport",
                "--job-lease-secs",
                "2",
                "--workers",
                "1",
            ])
            .env("RUST_LOG", "warn")
            .env_remove("KITH_DB")
            .env_remove("KITH_MEDIA_DIR")
            .env_remove("KITH_FFMPEG")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .kill_on_drop(true)
            .spawn()
            .expect("start kith");
        let mut s = Server { child, addr, log };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let url = format!("http://{}/healthz", s.addr);
        let up = tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Ok(Some(status)) = s.child.try_wait() {
                    return Err(status);
                }
                if let Ok(res) = http.get(&url).send().await
                    && res.status() == StatusCode::OK
                {
                    return Ok(());
                }
                tokio::time::sleep(POLL).await;
            }
        })
        .await;
        match up {
            Ok(Ok(())) => s,
            Ok(Err(status)) => panic!("kith exited ({status}): {}", s.log_text()),
            Err(_) => panic!("kith did not come up: {}", s.log_text()),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("a running kith")
    }

    fn client(&self) -> Client {
        Client::browser(format!("http://{}", self.addr))
    }
}

/// Processes other than this one whose command line mentions `needle`:
/// (pid, command line).
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Processes come and go while we look.
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if line.contains(needle) {
            found.push((pid, line));
        }
    }
    found
}

#[tokio::test]
async fn a_killed_server_leaves_no_ffmpeg_and_finishes_the_transcode_after_a_restart() {
    let data = clip(1920, 1080, 12).await;
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().to_path_buf();
    let needle = dir.to_str().expect("a UTF-8 temp dir").to_string();

    let mut server = Server::start(&dir, 1).await;
    let pid = server.pid();
    let c = server.client();
    let (status, v) = c
        .post(
            "/api/auth/signup",
            json!({"username": "alice", "password": "password-alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = upload_ok(&c, &data).await;

    // Wait until the transcode is well under way: the media says
    // processing with some progress, an ffmpeg (itself, past setpriv and
    // nice) works on this data dir, and its partial output exists.
    let ffmpeg = tokio::time::timeout(TRANSCODE_WAIT, async {
        loop {
            let (status, v) = c.get(&format!("/api/media/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            assert_ne!(
                v["status"], "ready",
                "finished before it could be killed: {v}"
            );
            assert_ne!(v["status"], "failed", "{v}");
            let running: Vec<_> = processes_mentioning(&needle)
                .into_iter()
                .filter(|(p, line)| {
                    *p != pid
                        && line
                            .split(' ')
                            .next()
                            .is_some_and(|argv0| argv0.ends_with("ffmpeg"))
                })
                .collect();
            let partial = names_in(&dir.join("media"))
                .iter()
                .any(|n| n.starts_with('.') && n.contains(&id));
            let progress = v["progress"].as_f64().expect("progress");
            if v["status"] == "processing" && progress > 0.0 && partial && !running.is_empty() {
                return running;
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no transcode started: {}", server.log_text()));

    // Crash: no chance to clean up.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    within(server.child.wait()).await.expect("reap kith");
    let gone = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let left = processes_mentioning(&needle);
            if left.is_empty() {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    assert!(
        gone.is_ok(),
        "still running after kith was killed (ffmpeg was {ffmpeg:?}): {:?}",
        processes_mentioning(&needle)
    );
    let log1 = server.log_text();
    drop(server);

    // The same command on the same data dir.
    let server = Server::start(&dir, 2).await;
    let c = server.client();
    let (status, v) = c.login("alice", "password-alice").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let v = wait_status(&c, &id, &["ready", "failed"], TRANSCODE_WAIT).await;
    assert_eq!(
        v["status"],
        "ready",
        "{v}\nfirst run: {log1}\nsecond run: {}",
        server.log_text()
    );
    assert_eq!(
        (v["width"].clone(), v["height"].clone()),
        (json!(1280), json!(720))
    );
    let ms = v["duration_ms"].as_i64().expect("duration_ms");
    assert!((11_500..=12_500).contains(&ms), "a {ms} ms result");

    let names = names_in(&dir.join("media"));
    let outputs: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with(".mp4") && !n.starts_with('.'))
        .collect();
    assert_eq!(outputs, [&format!("{id}.mp4")], "outputs: {names:?}");
    let probe = ffprobe(&dir.join("media").join(format!("{id}.mp4"))).await;
    let video = stream(&probe, "video").expect("video stream");
    assert_eq!(
        (video["width"].clone(), video["height"].clone()),
        (json!(1280), json!(720))
    );
    // The killed attempt's partial output must not outlive the restart.
    let temps: Vec<&String> = names.iter().filter(|n| n.starts_with('.')).collect();
    assert!(
        temps.is_empty(),
        "temporary files left in the media dir: {temps:?} (all: {names:?})"
    );
}

/// Waits (bounded) until no process mentions `needle`.
async fn no_process_mentions(needle: &str) {
    let gone = tokio::time::timeout(Duration::from_secs(15), async {
        while !processes_mentioning(needle).is_empty() {
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    assert!(
        gone.is_ok(),
        "still running: {:?}",
        processes_mentioning(needle)
    );
}

/// Waits (bounded) until an ffmpeg works on a file of this data dir.
async fn ffmpeg_running(needle: &str) {
    let seen = tokio::time::timeout(TRANSCODE_WAIT, async {
        loop {
            if processes_mentioning(needle)
                .iter()
                .any(|(_, cmd)| cmd.contains("ffmpeg") && !cmd.contains("cargo"))
            {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    assert!(seen.is_ok(), "no ffmpeg started for {needle}");
}

#[tokio::test]
async fn cancelling_a_running_transcode_kills_its_ffmpeg() {
    let app = crate::helpers::spawn_with(|c| c.job_retry_base = Duration::from_millis(100)).await;
    let c = app.user("alice").await;
    let data = clip(1920, 1080, 12).await;
    let id = upload_ok(&c, &data).await;
    let needle = media_dir(&app).to_string_lossy().into_owned();
    wait_status(&c, &id, &["processing"], TRANSCODE_WAIT).await;
    ffmpeg_running(&needle).await;
    let job: i64 = app
        .db_count(&format!(
            "SELECT job_id FROM media WHERE id = {}",
            id_num(&id)
        ))
        .await;
    let job_id = kith::ids::Id(job);
    app.state
        .writer
        .run(kith::store::jobs::Cancel {
            id: job_id,
            user: None,
        })
        .await
        .expect("cancel");
    // The worker hears it at its next heartbeat and kills ffmpeg.
    no_process_mentions(&needle).await;
    let v = wait_status(&c, &id, &["failed"], TIMEOUT).await;
    assert!(v["url"].is_null(), "{v}");
    // The worker removes its partial outputs once ffmpeg has exited.
    let dir = media_dir(&app);
    let cleaned = tokio::time::timeout(TIMEOUT, async {
        while names_in(&dir).iter().any(|n| n.starts_with('.')) {
            tokio::time::sleep(POLL).await;
        }
    })
    .await;
    assert!(cleaned.is_ok(), "left behind: {:?}", names_in(&dir));
}

#[tokio::test]
async fn a_transcode_over_its_time_limit_is_killed_and_fails() {
    let app = crate::helpers::spawn_with(|c| {
        c.transcode_timeout = Duration::from_secs(1);
        c.job_retry_base = Duration::from_millis(100);
    })
    .await;
    let c = app.user("alice").await;
    let data = clip(1920, 1080, 12).await;
    let id = upload_ok(&c, &data).await;
    let v = wait_status(&c, &id, &["failed", "ready"], TRANSCODE_WAIT).await;
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("timed out")),
        "{v}"
    );
    no_process_mentions(&media_dir(&app).to_string_lossy()).await;
}

#[tokio::test]
async fn shutdown_kills_ffmpeg_and_gives_the_job_back() {
    let app = crate::helpers::spawn_app().await;
    let c = app.user("alice").await;
    let data = clip(1920, 1080, 12).await;
    let id = upload_ok(&c, &data).await;
    let needle = media_dir(&app).to_string_lossy().into_owned();
    wait_status(&c, &id, &["processing"], TRANSCODE_WAIT).await;
    ffmpeg_running(&needle).await;
    let (dir, data_dir) = app.stop().await;
    no_process_mentions(&needle).await;
    // The job is queued again with its attempt not used up, ready for any
    // node to take at once.
    let restarted = crate::helpers::spawn_on(data_dir).await;
    let status: i64 = restarted
        .db_count("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running', 'succeeded')")
        .await;
    assert_eq!(status, 1);
    let c = restarted.login("alice").await;
    wait_ready(&c, &id).await;
    let attempts: i64 = restarted.db_count("SELECT attempts FROM jobs").await;
    assert_eq!(attempts, 1, "the interrupted attempt was given back");
    drop(dir);
}
