//! Outgoing mail against a real SMTP server (aiosmtpd, tests/mail):
//! delivered once with its headers, retried after a 451 or while the
//! server is down, given up at once for a malformed recipient or a 554,
//! and sent exactly once when the node is killed mid-send and restarted.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use kith::config::MailConfig;
use kith::ids::Id;
use kith::store::mail::{Mail, queue_tx};

use crate::helpers::{TIMEOUT, TestApp, spawn_with, until_healthy};
use crate::smtp::{Received, Sink, SinkOptions, free_port};

const KITH: &str = env!("CARGO_BIN_EXE_kith");
const FROM: &str = "kith <kith@example.org>";
/// How long a test watches for a second copy once the first arrived:
/// several retry periods at the short backoff below.
const QUIET: Duration = Duration::from_secs(3);
/// A first retry after 100-200 ms (the queue doubles it, with jitter):
/// retries come within a test's patience.
const RETRY_BASE: Duration = Duration::from_millis(100);

fn mail(to: &str, n: u32) -> Mail {
    Mail {
        to: to.into(),
        subject: format!("Reset your password ({n})"),
        text: format!("Hello,\r\n\r\nfollow this link: https://kith.example.org/reset/{n}\r\n"),
        message_id: format!("<reset.{n}@kith.example.org>"),
    }
}

/// Queues `mail` the way the server does: `queue_tx` in a transaction,
/// here on a connection of the test's own to the node's database.
fn queue(db: &Path, mail: &Mail, key: &str) -> Id {
    let mut conn = kith::db::open_writer_connection(db).expect("open the database");
    let tx = conn.transaction().expect("begin");
    let id = queue_tx(&tx, mail, key, None).expect("queue the mail");
    tx.commit().expect("commit");
    id
}

/// (status, attempts, last_error) of a job.
fn job(db: &Path, id: Id) -> (String, i64, Option<String>) {
    let conn = kith::db::open_writer_connection(db).expect("open the database");
    conn.query_row(
        "SELECT status, attempts, last_error FROM jobs WHERE id = ?",
        [id.0],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .expect("the job")
}

async fn until_status(db: &Path, id: Id, want: &[&str]) -> (String, i64, Option<String>) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let j = job(db, id);
        if want.contains(&j.0.as_str()) {
            return j;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id:?} is {j:?}, not {want:?}, after {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn app_sending_to(smtp_url: String) -> TestApp {
    spawn_with(|c| {
        c.mail = Some(MailConfig {
            smtp_url,
            from: FROM.into(),
        });
        c.job_retry_base = RETRY_BASE;
    })
    .await
}

fn assert_is(got: &Received, m: &Mail) {
    assert_eq!(got.mail_from, "kith@example.org");
    assert_eq!(got.rcpt_tos, vec![m.to.clone()]);
    assert_eq!(got.header("From").as_deref(), Some(FROM));
    assert_eq!(got.header("To").as_deref(), Some(m.to.as_str()));
    assert_eq!(got.header("Subject").as_deref(), Some(m.subject.as_str()));
    assert_eq!(
        got.header("Message-ID").as_deref(),
        Some(m.message_id.as_str())
    );
    assert!(got.header("Date").is_some(), "{}", got.data);
    let ct = got.header("Content-Type").unwrap_or_default();
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(ct.to_ascii_lowercase().contains("charset=utf-8"), "{ct}");
    // SMTP ends the content with a line break (the one before the final
    // dot), which the sink keeps.
    assert_eq!(
        got.body().trim_end_matches("\r\n"),
        m.text.trim_end_matches("\r\n"),
        "{}",
        got.data
    );
}

#[tokio::test]
async fn a_mail_is_delivered_once_with_its_headers() {
    let sink = Sink::start();
    let app = app_sending_to(sink.url()).await;
    let db = app.state.config.db.clone();
    let m = mail("ann@example.org", 1);
    let id = queue(&db, &m, "reset:1");
    // The same key again (a retried request): still one mail.
    assert_eq!(queue(&db, &m, "reset:1"), id);

    let got = sink.until_received(1, TIMEOUT).await;
    assert_is(&got[0], &m);
    let (_, attempts, _) = until_status(&db, id, &["succeeded"]).await;
    assert_eq!(attempts, 1);
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.received().len(), 1, "a second copy arrived");
    app.stop().await;
}

#[tokio::test]
async fn a_451_is_retried_then_delivered_once() {
    let sink = Sink::with(SinkOptions {
        fail_first: 1,
        ..SinkOptions::default()
    });
    let app = app_sending_to(sink.url()).await;
    let db = app.state.config.db.clone();
    let m = mail("bob@example.org", 2);
    let id = queue(&db, &m, "reset:2");

    let got = sink.until_received(1, TIMEOUT).await;
    assert_is(&got[0], &m);
    let (_, attempts, _) = until_status(&db, id, &["succeeded"]).await;
    assert_eq!((sink.count("refused"), attempts), (1, 2));
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.received().len(), 1, "a second copy arrived");
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_recipient_fails_for_good() {
    let sink = Sink::start();
    let app = app_sending_to(sink.url()).await;
    let db = app.state.config.db.clone();
    let id = queue(&db, &mail("not an address", 3), "reset:3");

    let (status, attempts, error) = until_status(&db, id, &["dead"]).await;
    let error = error.unwrap_or_default();
    assert_eq!(attempts, 1, "retried: {status} {error}");
    assert!(error.contains("not an address"), "{error}");
    tokio::time::sleep(QUIET).await;
    assert_eq!(job(&db, id).1, 1, "retried later");
    assert!(sink.received().is_empty());
    assert_eq!(sink.count("refused") + sink.count("stalling"), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_rejection_for_good_is_not_retried() {
    let sink = Sink::with(SinkOptions {
        reject_first: 1,
        ..SinkOptions::default()
    });
    let app = app_sending_to(sink.url()).await;
    let db = app.state.config.db.clone();
    let id = queue(&db, &mail("eve@example.org", 6), "reset:6");

    let (_, attempts, error) = until_status(&db, id, &["dead"]).await;
    let error = error.unwrap_or_default();
    assert_eq!(attempts, 1, "{error}");
    assert!(error.contains("554"), "{error}");
    tokio::time::sleep(QUIET).await;
    assert_eq!((sink.count("rejected"), job(&db, id).1), (1, 1), "retried");
    assert!(sink.received().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_server_down_at_first_gets_the_mail_once_it_is_up() {
    let port = free_port();
    let app = app_sending_to(format!("smtp://127.0.0.1:{port}")).await;
    let db = app.state.config.db.clone();
    let m = mail("cat@example.org", 4);
    let id = queue(&db, &m, "reset:4");

    // Refused connections: failed attempts (`failed`: waiting for the
    // retry), kept for later.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let (status, attempts, error) = job(&db, id);
        if attempts >= 2 && status == "failed" {
            let error = error.unwrap_or_default();
            assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
            break;
        }
        assert!(
            !matches!(status.as_str(), "dead" | "succeeded"),
            "{status}: {error:?}"
        );
        assert!(tokio::time::Instant::now() < deadline, "no retries");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sink = Sink::with(SinkOptions {
        port: Some(port),
        ..SinkOptions::default()
    });
    let got = sink.until_received(1, TIMEOUT).await;
    assert_is(&got[0], &m);
    until_status(&db, id, &["succeeded"]).await;
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.received().len(), 1, "a second copy arrived");
    app.stop().await;
}

#[tokio::test]
async fn bad_mail_settings_refuse_to_start() {
    for (url, from, why) in [
        ("http://mail.example.org", FROM, "--smtp-url"),
        ("smtp://mail.example.org?tls=maybe", FROM, "--smtp-url"),
        (
            "smtp://mail.example.org",
            "kith at example.org",
            "--mail-from",
        ),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = kith::Config::for_dir(dir.path());
        config.mail = Some(MailConfig {
            smtp_url: url.into(),
            from: from.into(),
        });
        let Err(e) = kith::App::build(config).await else {
            panic!("{url} {from}: started");
        };
        assert!(format!("{e:#}").contains(why), "{url} {from}: {e:#}");
    }
}

/// The real binary on `dir`, sending through `smtp_url`, with a 2 s
/// lease so that a restarted node reclaims a dead one's job quickly.
async fn node(dir: &Path, smtp_url: &str) -> tokio::process::Child {
    let port = free_port();
    let mut child = tokio::process::Command::new(KITH)
        .env("KITH_LISTEN", format!("127.0.0.1:{port}"))
        .env("KITH_DATA_DIR", dir)
        .env("KITH_SMTP_URL", smtp_url)
        .env("KITH_MAIL_FROM", FROM)
        .env("KITH_JOB_LEASE_SECS", "2")
        .env("KITH_JOB_RETRY_BASE_MS", RETRY_BASE.as_millis().to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn kith");
    until_healthy(&format!("http://127.0.0.1:{port}"), &mut child)
        .await
        .expect("kith comes up");
    child
}

#[tokio::test]
async fn a_node_killed_mid_send_delivers_once_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let migrated = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(KITH)
            .args(["migrate", "--data-dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .status(),
    )
    .await
    .expect("migrate in time")
    .expect("migrate runs");
    assert!(migrated.success());
    let db = dir.path().join("kith.db");
    let m = mail("dan@example.org", 5);
    let id = queue(&db, &m, "reset:5");

    // The first message is held in DATA far longer than the test takes:
    // the node is killed while the server has not answered.
    let sink = Sink::with(SinkOptions {
        stall_data: Some(Duration::from_secs(600)),
        stall_count: 1,
        ..SinkOptions::default()
    });
    let mut first = node(dir.path(), &sink.url()).await;
    sink.until("stalling", 1, TIMEOUT).await;
    first.start_kill().expect("SIGKILL");
    tokio::time::timeout(TIMEOUT, first.wait())
        .await
        .expect("kith did not die")
        .expect("wait");
    // The connection died with the node: the server drops the message.
    sink.until("aborted", 1, TIMEOUT).await;
    assert!(sink.received().is_empty());
    assert_eq!(job(&db, id).0, "running", "the dead node's lease");

    let second = node(dir.path(), &sink.url()).await;
    let got = sink.until_received(1, TIMEOUT).await;
    assert_is(&got[0], &m);
    let (_, attempts, _) = until_status(&db, id, &["succeeded"]).await;
    assert_eq!(attempts, 2);
    tokio::time::sleep(QUIET).await;
    assert_eq!(sink.received().len(), 1, "a second copy arrived");
    assert_eq!(sink.count("stalling"), 1);
    drop(second);
}
