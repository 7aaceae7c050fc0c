//! Link previews: a card from a page's head, fetched by a job; loopback,
//! private and metadata addresses refused, on every redirect too; endless,
//! slow and non-HTML pages give no card and no hang.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{Person, TIMEOUT, TestApp, person, spawn_app, spawn_with};

/// A small web server on loopback: the pages a test links to, and how many
/// requests reached it.
struct Site {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicUsize>,
}

async fn site() -> Site {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let cover = Arc::new(cover_png());
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let cover = cover.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let html = |body: &str| {
                    format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{body}"
                    )
                };
                match path.as_str() {
                    "/page" => {
                        let page = html(
                            r#"<html><head><title>fallback</title>
                            <meta property="og:title" content="Lyon &amp; back">
                            <meta property="og:description" content="A weekend away">
                            <meta property="og:image" content="/cover.jpg">
                            <meta property="og:site_name" content="Travels">
                            </head><body>...</body></html>"#,
                        );
                        let _ = s.write_all(page.as_bytes()).await;
                    }
                    "/cover.jpg" => {
                        let head = "HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n\r\n";
                        let _ = s.write_all(head.as_bytes()).await;
                        let _ = s.write_all(&cover).await;
                    }
                    "/svg" => {
                        let r = "HTTP/1.0 200 OK\r\nContent-Type: image/svg+xml\r\n\r\n<svg/>";
                        let _ = s.write_all(r.as_bytes()).await;
                    }
                    p if p.starts_with("/pictured/") => {
                        // A page whose picture is not one, an SVG, or on the
                        // metadata address.
                        let picture = match p.trim_start_matches("/pictured/") {
                            "svg" => "/svg",
                            "metadata" => "http://169.254.169.254/latest/x.png",
                            _ => "/image",
                        };
                        let page = html(&format!(
                            r#"<html><head><meta property="og:title" content="pictured">
                            <meta property="og:image" content="{picture}"></head></html>"#
                        ));
                        let _ = s.write_all(page.as_bytes()).await;
                    }
                    "/to-metadata" => {
                        let r = "HTTP/1.0 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\n\r\n";
                        let _ = s.write_all(r.as_bytes()).await;
                    }
                    "/image" => {
                        let r = "HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n\r\n\u{89}PNG";
                        let _ = s.write_all(r.as_bytes()).await;
                    }
                    "/endless" => {
                        let _ = s.write_all(html("<html><head>").as_bytes()).await;
                        let chunk = vec![b'x'; 64 * 1024];
                        // Bounded here too; the fetcher stops far sooner.
                        for _ in 0..256 {
                            if s.write_all(&chunk).await.is_err() {
                                break;
                            }
                        }
                    }
                    "/slow" => {
                        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n").await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    _ => {
                        let _ = s.write_all(b"HTTP/1.0 404 Not Found\r\n\r\n").await;
                    }
                }
            });
        }
    });
    Site { addr, hits }
}

/// A 1200 x 630 PNG, the usual shape of a page's preview picture.
fn cover_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(1200, 630, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode PNG");
    out.into_inner()
}

/// Posts `body` as `p`; answers the post's id.
async fn post(p: &Person, body: &str) -> String {
    p.http.new_post(body, "public").await
}

/// Waits for the card fetch of `url` to be done; answers whether it gave a
/// card.
async fn fetched(app: &TestApp, url: &str) -> bool {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let ok: Option<bool> = sqlx::query_scalar("SELECT ok <> 0 FROM link_cards WHERE url = ?")
            .bind(url)
            .fetch_optional(&app.state.read)
            .await
            .expect("read");
        if let Some(ok) = ok {
            return ok;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never fetched"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn card(p: &Person, id: &str) -> Value {
    let (_, v) = p.http.get(&format!("/api/posts/{id}")).await;
    v["post"]["link"].clone()
}

#[tokio::test]
async fn a_posts_first_link_gets_a_card_and_bad_pages_get_none() {
    let app = spawn_with(|c| c.links_allow_private = true).await;
    let site = site().await;
    let alice = person(&app, "alice").await;
    let base = format!("http://{}", site.addr);

    let url = format!("{base}/page");
    let id = post(&alice, &format!("we went to {url}. Then {base}/image")).await;
    assert!(fetched(&app, &url).await);
    let c = card(&alice, &id).await;
    assert_eq!(c["title"], "Lyon & back", "{c}");
    assert_eq!(c["description"], "A weekend away");
    assert_eq!(c["site_name"], "Travels");
    assert_eq!(c["image_url"], format!("{base}/cover.jpg"));
    // A second post linking it uses the same card: no second fetch.
    let hits = site.hits.load(Ordering::SeqCst);
    let again = post(&alice, &format!("again {url}")).await;
    assert_eq!(card(&alice, &again).await["title"], "Lyon & back");
    assert_eq!(site.hits.load(Ordering::SeqCst), hits);

    // Private ranges are allowed here; metadata never, not by redirect.
    for (path, what) in [
        ("/to-metadata", "a redirect to the metadata address"),
        ("/image", "not HTML"),
        ("/endless", "an endless page"),
        ("/slow", "a page that never ends its headers"),
    ] {
        let url = format!("{base}{path}");
        let id = post(&alice, &url).await;
        assert!(!fetched(&app, &url).await, "{what} gives no card");
        assert!(card(&alice, &id).await.is_null(), "{what}");
    }
    for url in ["http://169.254.169.254/latest", "http://[fd00:ec2::254]/"] {
        post(&alice, url).await;
        assert!(
            !fetched(&app, url).await,
            "{url} is refused even with the flag"
        );
    }
}

#[tokio::test]
async fn a_cards_picture_is_fetched_shrunk_and_served_by_kith_to_those_who_see_the_post() {
    let app = spawn_with(|c| c.links_allow_private = true).await;
    let site = site().await;
    let alice = person(&app, "alice").await;
    let bob = person(&app, "bob").await;
    let eve = person(&app, "eve").await;
    alice.http.befriend(&bob.http, "bob").await;
    let base = format!("http://{}", site.addr);

    let url = format!("{base}/page");
    let id = alice.http.new_post(&format!("see {url}"), "friends").await;
    assert!(fetched(&app, &url).await);
    let c = card(&bob, &id).await;
    let picture = &c["image"];
    assert_eq!(
        (picture["width"].as_u64(), picture["height"].as_u64()),
        (Some(600), Some(315)),
        "{c}"
    );
    let src = picture["url"].as_str().expect("picture url");
    assert!(
        src.starts_with(&format!("/api/posts/{id}/link-image?v=")),
        "{src}"
    );
    let res = bob
        .http
        .req(reqwest::Method::GET, src)
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/webp");
    let bytes = res.bytes().await.expect("body");
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::WebP)
        .expect("a WebP kith made");
    assert_eq!((img.width(), img.height()), (600, 315));
    // Only to those who may see the post: eve is no friend of alice's.
    assert_eq!(eve.http.get(src).await.0, 404);

    // A picture that is not one, an SVG, or at a refused address leaves a
    // card without a picture.
    for (page, what) in [
        ("truncated", "a truncated PNG"),
        ("svg", "an SVG"),
        ("metadata", "the metadata address"),
    ] {
        let url = format!("{base}/pictured/{page}");
        let id = post(&alice, &url).await;
        assert!(
            fetched(&app, &url).await,
            "{what}: the page still gives a card"
        );
        let c = card(&alice, &id).await;
        assert_eq!(c["title"], "pictured", "{what}: {c}");
        assert!(c["image"].is_null(), "{what}: {c}");
        assert_eq!(
            alice
                .http
                .get(&format!("/api/posts/{id}/link-image"))
                .await
                .0,
            404,
            "{what}"
        );
    }
}

#[tokio::test]
async fn loopback_and_private_addresses_are_refused_without_the_flag() {
    let app = spawn_app().await;
    let site = site().await;
    let alice = person(&app, "alice").await;
    let port = site.addr.port();
    for url in [
        format!("http://127.0.0.1:{port}/page"),
        format!("http://[::1]:{port}/page"),
        format!("http://localhost:{port}/page"),
        "http://10.0.0.1/".to_string(),
    ] {
        let id = post(&alice, &format!("look {url}")).await;
        assert!(!fetched(&app, &url).await, "{url}");
        assert!(card(&alice, &id).await.is_null());
    }
    assert_eq!(
        site.hits.load(Ordering::SeqCst),
        0,
        "no request left the guard"
    );
}
