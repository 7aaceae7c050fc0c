//! Media across hosts: nodes with media dirs of their own, sharing an
//! S3-compatible bucket served by a real S3 server (moto, from PyPI):
//! transcodes, and resumable uploads begun on one host and finished on
//! another.

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use sha2::Digest;

use crate::harness::*;

const BUCKET: &str = "kith-media";

/// A moto S3 server on a loopback port, killed on drop.
struct S3Server {
    child: tokio::process::Child,
    url: String,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn s3_server() -> S3Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let child = tokio::process::Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto_server (scripts/test.sh installs it with pip)");
    let url = format!("http://127.0.0.1:{port}");
    let c = reqwest::Client::new();
    eventually("the S3 server answers", TIMEOUT, || async {
        c.get(&url).send().await.ok().map(|_| ())
    })
    .await;
    // CreateBucket, listable by anyone so the test can look inside
    // without signing requests (the objects themselves stay private).
    let res = c
        .put(format!("{url}/{BUCKET}"))
        .header("x-amz-acl", "public-read")
        .send()
        .await
        .expect("create bucket");
    assert!(res.status().is_success(), "create bucket: {}", res.status());
    S3Server { child, url }
}

async fn small_clip(dir: &std::path::Path) -> Vec<u8> {
    let path = dir.join("small.mp4");
    crate::clip::make_clip(&path, 640, 360, 2, false).await;
    std::fs::read(path).expect("clip")
}

/// The keys in the bucket (ListObjectsV2, anonymous).
async fn keys(s3: &S3Server) -> Vec<String> {
    let xml = reqwest::get(format!("{}/{BUCKET}?list-type=2", s3.url))
        .await
        .expect("list")
        .text()
        .await
        .expect("body");
    xml.split("<Key>")
        .skip(1)
        .filter_map(|p| p.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

/// What a node needs to keep its media in the test bucket.
fn bucket_env(s3: &S3Server) -> Vec<(String, String)> {
    [
        ("KITH_MEDIA_STORE", format!("s3://{BUCKET}/media")),
        ("AWS_ACCESS_KEY_ID", "kith-test".into()),
        ("AWS_SECRET_ACCESS_KEY", "kith-test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ENDPOINT_URL", s3.url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

#[tokio::test]
async fn uploads_transcodes_and_ranges_work_through_a_bucket_across_hosts() {
    let s3 = s3_server().await;
    let cluster = spawn_cluster_with(
        3,
        Options {
            // Only node2 transcodes: the upload must travel through the bucket.
            workers: vec![0, 0, 1],
            own_media_dirs: true,
            env: bucket_env(&s3),
            ..Options::default()
        },
    )
    .await;
    let (n0, n1, n2) = (&cluster.nodes[0], &cluster.nodes[1], &cluster.nodes[2]);
    let alice = signup(n1, "alice").await;
    let clip = small_clip(cluster.dir.path()).await;

    let id = upload_video(n1, &alice, clip).await;
    // The upload went into the bucket, not onto node1's disk.
    let c = reqwest::Client::new();
    let upload_key = format!("media/uploads/{id}");
    assert!(
        keys(&s3).await.contains(&upload_key),
        "{:?}",
        keys(&s3).await
    );
    let left: Vec<String> = files_under(&n1.data_dir.join("media"));
    assert!(left.is_empty(), "files left on node1: {left:?}");

    let ready = ready_on(n0, &alice, &id, Duration::from_secs(120)).await;
    assert_eq!(ready["height"], 360, "{ready}");
    // Outputs are in the bucket; node2's disk keeps nothing of them.
    let stored = keys(&s3).await;
    for name in [format!("media/{id}.mp4"), format!("media/{id}.jpg")] {
        assert!(stored.contains(&name), "{name} not in {stored:?}");
    }
    let left = files_under(&n2.data_dir.join("media"));
    assert!(left.is_empty(), "files left on node2: {left:?}");

    // Served from a node that never saw the files, with ranges and ETags.
    let get = |node: &Node, path: &str| c.get(node.url(path)).header("cookie", &alice.cookie);
    let full = get(n0, &format!("/media/{id}.mp4"))
        .send()
        .await
        .expect("get video");
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.headers()["content-type"], "video/mp4");
    let etag = full.headers()["etag"].to_str().expect("etag").to_string();
    let bytes = full.bytes().await.expect("body");
    assert_eq!(&bytes[4..8], b"ftyp");
    let part = get(n0, &format!("/media/{id}.mp4"))
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{}", bytes.len()).as_str()
    );
    assert_eq!(part.bytes().await.expect("body"), bytes.slice(100..200));
    let tail = get(n1, &format!("/media/{id}.mp4"))
        .header("range", "bytes=-10")
        .send()
        .await
        .expect("suffix range");
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        tail.bytes().await.expect("body"),
        bytes.slice(bytes.len() - 10..)
    );
    let past = get(n0, &format!("/media/{id}.mp4"))
        .header("range", format!("bytes={}-", bytes.len() + 10))
        .send()
        .await
        .expect("past end");
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let cached = get(n2, &format!("/media/{id}.mp4"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    let poster = get(n1, &format!("/media/{id}.jpg"))
        .send()
        .await
        .expect("poster");
    assert_eq!(poster.status(), StatusCode::OK);
    assert_eq!(&poster.bytes().await.expect("body")[..2], &[0xff, 0xd8]);
    // What is not there is 404, not an error.
    let missing = get(n0, "/media/aaaaaaaaaaaa.mp4")
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// PATCHes `bytes` at `offset` of the upload at `path` on `node`.
async fn patch(
    node: &Node,
    user: &User,
    path: &str,
    offset: usize,
    bytes: &[u8],
) -> (StatusCode, String) {
    let res = reqwest::Client::new()
        .patch(node.url(path))
        .header("cookie", &user.cookie)
        .header("tus-resumable", "1.0.0")
        .header("upload-offset", offset.to_string())
        .header("content-type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("patch sent");
    let status = res.status();
    let offset = res
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, offset)
}

#[tokio::test]
async fn a_resumable_upload_begun_on_one_host_finishes_on_another_through_the_bucket() {
    let s3 = s3_server().await;
    let cluster = spawn_cluster_with(
        2,
        Options {
            workers: vec![0, 1],
            own_media_dirs: true,
            env: bucket_env(&s3),
            ..Options::default()
        },
    )
    .await;
    let (n0, n1) = (&cluster.nodes[0], &cluster.nodes[1]);
    let alice = signup(n0, "alice").await;
    let mut data = crate::images::noisy_jpeg(800, 600, 5);
    data.resize(3 * 1024 * 1024, 0);
    let res = reqwest::Client::new()
        .post(n0.url("/api/uploads"))
        .header("cookie", &alice.cookie)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", data.len().to_string())
        .send()
        .await
        .expect("create sent");
    assert_eq!(res.status(), StatusCode::CREATED);
    let path = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_string();
    let id = path.rsplit('/').next().expect("id").to_string();

    // The first half on node0: it lands in the bucket as a part, not on
    // node0's disk.
    let half = data.len() / 2;
    assert_eq!(
        patch(n0, &alice, &path, 0, &data[..half]).await,
        (StatusCode::NO_CONTENT, half.to_string())
    );
    let stored = keys(&s3).await;
    assert!(
        stored
            .iter()
            .any(|k| k.starts_with(&format!("media/partial/{id}/"))),
        "{stored:?}"
    );
    // node1 knows where it stands and takes the rest.
    let res = reqwest::Client::new()
        .head(n1.url(&path))
        .header("cookie", &alice.cookie)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .expect("head sent");
    assert_eq!(res.headers()["upload-offset"], half.to_string().as_str());
    // A wrong offset is refused there too.
    assert_eq!(
        patch(n1, &alice, &path, 0, &data[..10]).await.0,
        StatusCode::CONFLICT
    );
    let (status, at) = patch(n1, &alice, &path, half, &data[half..]).await;
    assert_eq!(
        (status, at),
        (StatusCode::NO_CONTENT, data.len().to_string())
    );

    let v = ready_on(n0, &alice, &id, Duration::from_secs(120)).await;
    let digest: String = sha2::Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v["sha256"], digest, "{v}");
    // The parts are gone; the photo's files are in the bucket.
    let stored = keys(&s3).await;
    assert!(
        !stored.iter().any(|k| k.contains("/partial/")),
        "{stored:?}"
    );
    assert!(
        stored.contains(&format!("media/{id}-display.webp")),
        "{stored:?}"
    );
    assert!(
        !stored.contains(&format!("media/uploads/{id}")),
        "the upload with its metadata is gone: {stored:?}"
    );
}
