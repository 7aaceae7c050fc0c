//! The durable job queue: claim order, idempotent enqueue, leases and
//! stalled-job recovery, heartbeats, retries with backoff, dead jobs,
//! cancel, operator retry, release, concurrent workers (by hand and the
//! real worker loop), `GET /api/jobs/{id}` and the `kith jobs` CLI.
//!
//! Tests that drive the queue by hand start the server with `workers = 0`
//! so that no background worker takes their jobs.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use kith::db::AnyCommand;
use kith::ids::{Id, now_ms};
use kith::store::jobs::{
    self as queue, Cancel, Claim, Claimed, Enqueue, Fail, Heartbeat, NewJob, Release, Retry,
    Succeed,
};
use kith::store::{CmdError, Command};
use reqwest::StatusCode;
use tokio::task::JoinSet;

use crate::helpers::{TIMEOUT, TestApp, spawn_with, within};

const KITH: &str = env!("CARGO_BIN_EXE_kith");
/// A lease long enough never to run out during a test.
const LONG_LEASE: i64 = 60_000;

async fn manual_app() -> TestApp {
    spawn_with(|c| c.workers = 0).await
}

async fn exec<C: Command + Into<AnyCommand>>(app: &TestApp, cmd: C) -> Result<C::Reply, CmdError> {
    within(app.state.writer.run(cmd)).await
}

fn new_job(kind: &str) -> NewJob {
    NewJob {
        id: Id::generate(),
        kind: kind.into(),
        payload: "{}".into(),
        priority: 0,
        max_attempts: 3,
        idempotency_key: None,
        owner: None,
    }
}

async fn enqueue_job(app: &TestApp, job: NewJob) -> Id {
    exec(app, Enqueue(job)).await.expect("enqueue")
}

/// Enqueues a noop job with this priority and attempt limit.
async fn enqueue(app: &TestApp, priority: i64, max_attempts: u32) -> Id {
    enqueue_job(
        app,
        NewJob {
            priority,
            max_attempts,
            ..new_job("noop")
        },
    )
    .await
}

async fn claim_kinds(
    app: &TestApp,
    worker: &str,
    kinds: &[&str],
    lease_ms: i64,
) -> Option<Claimed> {
    let cmd = Claim {
        worker: worker.into(),
        kinds: kinds.iter().map(|k| k.to_string()).collect(),
        lease_ms,
    };
    exec(app, cmd).await.expect("claim")
}

async fn claim(app: &TestApp, worker: &str, lease_ms: i64) -> Option<Claimed> {
    claim_kinds(app, worker, &["noop"], lease_ms).await
}

fn changed(r: Result<bool, CmdError>, what: &str) -> bool {
    r.unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

async fn heartbeat(app: &TestApp, id: Id, worker: &str, lease_ms: i64, progress: f64) -> bool {
    let cmd = Heartbeat {
        id,
        worker: worker.into(),
        lease_ms,
        progress,
    };
    changed(exec(app, cmd).await, "heartbeat")
}

async fn succeed(app: &TestApp, id: Id, worker: &str) -> bool {
    let cmd = Succeed {
        id,
        worker: worker.into(),
    };
    changed(exec(app, cmd).await, "succeed")
}

async fn release(app: &TestApp, id: Id, worker: &str) -> bool {
    let cmd = Release {
        id,
        worker: worker.into(),
    };
    changed(exec(app, cmd).await, "release")
}

async fn fail(
    app: &TestApp,
    id: Id,
    worker: &str,
    error: &str,
    retryable: bool,
    retry_base_ms: u64,
    jitter: f64,
) -> bool {
    let cmd = Fail {
        id,
        worker: worker.into(),
        error: error.into(),
        retryable,
        retry_base_ms,
        jitter,
    };
    changed(exec(app, cmd).await, "fail")
}

async fn cancel(app: &TestApp, id: Id, user: Option<Id>) -> Result<(), CmdError> {
    exec(app, Cancel { id, user }).await
}

async fn retry(app: &TestApp, id: Id) -> Result<(), CmdError> {
    exec(app, Retry { id }).await
}

/// Everything about a job row, including what `JobView` does not show.
#[derive(Debug, sqlx::FromRow)]
struct Row {
    status: String,
    attempts: i64,
    max_attempts: i64,
    run_at: i64,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    progress: f64,
    last_error: Option<String>,
}

async fn row(app: &TestApp, id: Id) -> Row {
    within(
        sqlx::query_as::<_, Row>(
            "SELECT status, attempts, max_attempts, run_at, lease_owner, lease_expires_at,
                    progress, last_error
             FROM jobs WHERE id = ?",
        )
        .bind(id.0)
        .fetch_one(&app.state.read),
    )
    .await
    .unwrap_or_else(|e| panic!("job {id} row: {e}"))
}

async fn status(app: &TestApp, id: Id) -> String {
    row(app, id).await.status
}

/// Polls `claim` as `worker` until it returns a job, within [`TIMEOUT`].
async fn claim_eventually(app: &TestApp, worker: &str, lease_ms: i64) -> Claimed {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(c) = claim(app, worker, lease_ms).await {
            return c;
        }
        assert!(Instant::now() < deadline, "no job became claimable");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn is_conflict<T>(r: &Result<T, CmdError>) -> bool {
    matches!(r, Err(CmdError::Conflict(_)))
}

fn is_not_found<T>(r: &Result<T, CmdError>) -> bool {
    matches!(r, Err(CmdError::NotFound(_)))
}

// ---------------------------------------------------------------- claims

#[tokio::test]
async fn claims_take_the_highest_priority_then_the_earliest_due_job() {
    let app = manual_app().await;
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None, "empty queue");

    // A high-priority job that failed and waits 30 to 60 s for its retry:
    // not due, so never claimed below.
    let waiting = enqueue(&app, 50, 3).await;
    let c = claim(&app, "w", LONG_LEASE).await.expect("the only job");
    assert_eq!((c.id, c.attempt), (waiting, 1));
    assert!(fail(&app, waiting, "w", "flaky", true, 60_000, 0.0).await);
    let r = row(&app, waiting).await;
    assert_eq!(r.status, "failed");
    assert!(r.run_at >= now_ms() + 20_000, "{r:?}");

    // `early` is due before `late` although its id is larger: run_at, not
    // the id, orders jobs of equal priority.
    let early = enqueue_job(&app, new_job("noop")).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let late = enqueue_job(
        &app,
        NewJob {
            id: Id(early.0 - (1 << 40)),
            ..new_job("noop")
        },
    )
    .await;
    assert!(late < early);
    assert!(row(&app, late).await.run_at > row(&app, early).await.run_at);
    let high = enqueue(&app, 10, 3).await;
    let low = enqueue(&app, -5, 3).await;
    // Another kind is left to workers that run it.
    let video = enqueue_job(
        &app,
        NewJob {
            priority: 100,
            ..new_job("video")
        },
    )
    .await;

    let mut order = Vec::new();
    while let Some(c) = claim(&app, "w", LONG_LEASE).await {
        assert_eq!(c.attempt, 1, "{c:?}");
        assert_eq!(c.kind, "noop");
        order.push(c.id);
        assert!(order.len() <= 4, "claimed too much: {order:?}");
    }
    assert_eq!(order, vec![high, early, late, low]);
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None, "nothing is due");

    let r = row(&app, waiting).await;
    assert_eq!((r.status.as_str(), r.attempts), ("failed", 1), "{r:?}");
    assert_eq!(status(&app, video).await, "queued");
    let v = claim_kinds(&app, "w", &["video"], LONG_LEASE)
        .await
        .expect("the video job");
    assert_eq!(v.id, video);
}

#[tokio::test]
async fn each_claim_is_a_new_attempt() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 5).await;
    for attempt in 1..=3 {
        let c = claim(&app, "w", LONG_LEASE).await.expect("due job");
        assert_eq!((c.id, c.attempt, c.max_attempts), (id, attempt, 5));
        let r = row(&app, id).await;
        assert_eq!(r.status, "running");
        assert_eq!(r.attempts, i64::from(attempt));
        assert_eq!(r.lease_owner.as_deref(), Some("w"));
        // A zero backoff makes the retry due at once.
        assert!(fail(&app, id, "w", "again", true, 0, 0.0).await);
    }
    let c = claim(&app, "w", LONG_LEASE).await.expect("due job");
    assert_eq!(c.attempt, 4);
    assert!(succeed(&app, id, "w").await);
    let r = row(&app, id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("succeeded", 4));
    assert_eq!(r.progress, 1.0);
    assert_eq!(r.lease_owner, None);
    assert_eq!(r.last_error, None, "a success clears the last error");
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None);
}

#[tokio::test]
async fn an_idempotency_key_enqueues_once() {
    let app = manual_app().await;
    let first = enqueue_job(
        &app,
        NewJob {
            idempotency_key: Some("transcode:42".into()),
            ..new_job("noop")
        },
    )
    .await;
    let again = enqueue_job(
        &app,
        NewJob {
            idempotency_key: Some("transcode:42".into()),
            payload: r#"{"other":true}"#.into(),
            ..new_job("noop")
        },
    )
    .await;
    assert_eq!(again, first, "the first job's id");
    assert_eq!(app.db_count("SELECT count(*) FROM jobs").await, 1);
    let payload: String = within(
        sqlx::query_scalar("SELECT payload FROM jobs WHERE id = ?")
            .bind(first.0)
            .fetch_one(&app.state.read),
    )
    .await
    .expect("payload");
    assert_eq!(payload, "{}", "the first job is kept as it was");

    // Still the same job once it has run.
    let c = claim(&app, "w", LONG_LEASE).await.expect("the job");
    assert!(succeed(&app, c.id, "w").await);
    let after = enqueue_job(
        &app,
        NewJob {
            idempotency_key: Some("transcode:42".into()),
            ..new_job("noop")
        },
    )
    .await;
    assert_eq!(after, first);
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None, "not run twice");

    // Other keys, and no key, are separate jobs.
    let other = enqueue_job(
        &app,
        NewJob {
            idempotency_key: Some("transcode:43".into()),
            ..new_job("noop")
        },
    )
    .await;
    let a = enqueue(&app, 0, 3).await;
    let b = enqueue(&app, 0, 3).await;
    assert_eq!(HashSet::from([first, other, a, b]).len(), 4);
    assert_eq!(app.db_count("SELECT count(*) FROM jobs").await, 4);
}

// ---------------------------------------------------------------- leases

#[tokio::test]
async fn a_stalled_job_is_taken_over_when_its_lease_runs_out() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 3).await;
    let before = now_ms();
    let first = claim(&app, "w1", 200).await.expect("the job");
    let after = now_ms();
    assert_eq!((first.id, first.attempt), (id, 1));
    let expires = row(&app, id)
        .await
        .lease_expires_at
        .expect("a running job has a lease");
    assert!(
        (before + 200..=after + 200).contains(&expires),
        "lease ends at {expires}, claimed between {before} and {after}"
    );

    // w1 never heartbeats; w2 gets the job once the lease has run out.
    let second = claim_eventually(&app, "w2", LONG_LEASE).await;
    assert!(now_ms() > expires, "taken over before the lease ran out");
    assert_eq!((second.id, second.attempt), (id, 2));
    let r = row(&app, id).await;
    assert_eq!(r.status, "running");
    assert_eq!(r.lease_owner.as_deref(), Some("w2"));
    assert!(
        r.last_error
            .as_deref()
            .is_some_and(|e| e.contains("lease expired")),
        "{r:?}"
    );

    // w1 has lost it: none of its commands touch the job any more.
    assert!(!heartbeat(&app, id, "w1", 200, 0.5).await);
    assert!(!succeed(&app, id, "w1").await);
    assert!(!fail(&app, id, "w1", "late", true, 0, 0.0).await);
    assert!(!release(&app, id, "w1").await);
    let r = row(&app, id).await;
    assert_eq!(
        (r.status.as_str(), r.attempts, r.lease_owner.as_deref()),
        ("running", 2, Some("w2")),
        "{r:?}"
    );
    assert_eq!(r.progress, 0.0, "w1's progress was not recorded");

    assert!(succeed(&app, id, "w2").await);
    assert_eq!(status(&app, id).await, "succeeded");
}

#[tokio::test]
async fn a_lost_lease_on_the_last_attempt_makes_the_job_dead() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 2).await;
    assert_eq!(claim(&app, "w1", 200).await.map(|c| c.attempt), Some(1));
    // First expiry: back in the queue, attempt 2 of 2.
    let c = claim_eventually(&app, "w2", 200).await;
    assert_eq!((c.id, c.attempt), (id, 2));
    // Second expiry: out of attempts. Claims never get it again.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert_eq!(claim(&app, "w3", LONG_LEASE).await, None);
        let r = row(&app, id).await;
        if r.status == "dead" {
            assert_eq!(r.attempts, 2);
            assert_eq!(r.lease_owner, None);
            let error = r.last_error.expect("a dead job keeps its error");
            assert!(error.contains("lease expired"), "{error}");
            break;
        }
        assert_eq!(r.status, "running", "{r:?}");
        assert!(Instant::now() < deadline, "the job never died: {r:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!heartbeat(&app, id, "w2", 200, 0.5).await);
    assert!(!succeed(&app, id, "w2").await);
    let view = within(queue::get(&app.state.read, id))
        .await
        .expect("read")
        .expect("a dead job stays visible");
    assert_eq!(view.status, "dead");
    assert!(view.last_error.is_some_and(|e| e.contains("lease expired")));
    assert_eq!(claim(&app, "w3", LONG_LEASE).await, None);
}

#[tokio::test]
async fn heartbeats_keep_the_job() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 3).await;
    assert_eq!(claim(&app, "w1", 300).await.map(|c| c.id), Some(id));
    let start = Instant::now();
    let mut beats = 0;
    let mut progress = 0.0;
    // Each claim by w2 comes right after a heartbeat, well within its lease.
    while start.elapsed() < Duration::from_millis(1200) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        progress += 0.05;
        assert!(
            heartbeat(&app, id, "w1", 300, progress).await,
            "beat {beats}"
        );
        beats += 1;
        assert_eq!(claim(&app, "w2", LONG_LEASE).await, None, "beat {beats}");
    }
    assert!(beats >= 2, "{beats}");
    let r = row(&app, id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("running", 1));
    assert_eq!(r.lease_owner.as_deref(), Some("w1"));
    assert!((r.progress - progress).abs() < 1e-9, "{r:?}");
    // Progress never goes back.
    assert!(heartbeat(&app, id, "w1", 300, 0.01).await);
    assert!((row(&app, id).await.progress - progress).abs() < 1e-9);

    // Silent from now on: w2 gets it (so its claims above were real).
    let c = claim_eventually(&app, "w2", LONG_LEASE).await;
    assert_eq!((c.id, c.attempt), (id, 2));
}

/// Whatever progress a job reports, its heartbeat renews the lease: a
/// heartbeat refused for its progress value would let the job be taken
/// over while its worker, never told to stop, keeps running it.
#[tokio::test]
async fn a_heartbeat_renews_the_lease_whatever_the_progress() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 3).await;
    claim(&app, "w", 1_000).await.expect("the job");
    assert!(heartbeat(&app, id, "w", 1_000, 0.4).await);
    for p in [-1.0, f64::NAN, f64::INFINITY] {
        let before = now_ms();
        let cmd = Heartbeat {
            id,
            worker: "w".into(),
            lease_ms: LONG_LEASE,
            progress: p,
        };
        let r = exec(&app, cmd).await;
        assert_eq!(r, Ok(true), "heartbeat with progress {p}");
        let r = row(&app, id).await;
        assert!(
            r.lease_expires_at.is_some_and(|t| t >= before + LONG_LEASE),
            "lease not renewed by a heartbeat with progress {p}: {r:?}"
        );
        assert!((0.4..=1.0).contains(&r.progress), "{p}: {r:?}");
    }
}

// ---------------------------------------------------------------- failures

#[tokio::test]
async fn a_failed_attempt_is_retried_after_a_backoff_then_the_job_dies() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 3).await;

    // Attempt 1 fails: retry after base · 2⁰ · [0.5, 1) = 500..1000 ms.
    assert_eq!(
        claim(&app, "w", LONG_LEASE).await.map(|c| c.attempt),
        Some(1)
    );
    let before = now_ms();
    assert!(fail(&app, id, "w", "connection reset", true, 1000, 0.5).await);
    let after = now_ms();
    let r = row(&app, id).await;
    assert_eq!(r.status, "failed");
    assert_eq!(r.lease_owner, None);
    assert_eq!(r.last_error.as_deref(), Some("connection reset"));
    assert!(
        (before + 500..=after + 1000).contains(&r.run_at),
        "run_at {} after a failure between {before} and {after}",
        r.run_at
    );

    // Attempt 2 fails: base · 2¹ · [0.5, 1) = 100..200 ms with a 100 ms
    // base (without the doubling, 50..100 ms).
    let c = claim_eventually(&app, "w", LONG_LEASE).await;
    assert_eq!((c.id, c.attempt), (id, 2));
    let before = now_ms();
    assert!(fail(&app, id, "w", "timeout", true, 100, 0.0).await);
    let after = now_ms();
    let r = row(&app, id).await;
    assert_eq!(r.status, "failed");
    assert!(
        (before + 100..=after + 200).contains(&r.run_at),
        "run_at {} after a second failure between {before} and {after}",
        r.run_at
    );

    // Attempt 3 of 3 fails: dead, with its error, and visible.
    let c = claim_eventually(&app, "w", LONG_LEASE).await;
    assert_eq!((c.id, c.attempt), (id, 3));
    assert!(fail(&app, id, "w", "disk full", true, 100, 0.0).await);
    let r = row(&app, id).await;
    assert_eq!(r.status, "dead");
    assert_eq!(r.attempts, 3);
    assert_eq!(r.last_error.as_deref(), Some("disk full"));
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None);
    let dead = within(queue::list(&app.state.read, Some("dead"), 10))
        .await
        .expect("list");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, id);
    assert_eq!(dead[0].last_error.as_deref(), Some("disk full"));
    assert_eq!(dead[0].attempts, 3);
}

#[tokio::test]
async fn a_permanent_failure_is_dead_at_once() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 5).await;
    claim(&app, "w", LONG_LEASE).await.expect("the job");
    assert!(fail(&app, id, "w", "not a video", false, 0, 0.0).await);
    let r = row(&app, id).await;
    assert_eq!(
        (r.status.as_str(), r.attempts, r.max_attempts),
        ("dead", 1, 5)
    );
    assert_eq!(r.last_error.as_deref(), Some("not a video"));
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None);
    // Finished: the worker cannot finish it again.
    assert!(!succeed(&app, id, "w").await);
    assert!(!fail(&app, id, "w", "again", true, 0, 0.0).await);
    assert_eq!(status(&app, id).await, "dead");
}

// ---------------------------------------------------------------- cancel

#[tokio::test]
async fn a_queued_job_cancelled_never_runs() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 3).await;
    assert_eq!(cancel(&app, id, None).await, Ok(()));
    let r = row(&app, id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("cancelled", 0));
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None);
    // Once is enough.
    assert!(is_conflict(&cancel(&app, id, None).await));
    assert!(is_not_found(&cancel(&app, Id::generate(), None).await));
}

#[tokio::test]
async fn a_running_job_cancelled_stops_its_worker() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 3).await;
    claim(&app, "w", LONG_LEASE).await.expect("the job");
    assert!(heartbeat(&app, id, "w", LONG_LEASE, 0.3).await);
    assert_eq!(cancel(&app, id, None).await, Ok(()));
    let r = row(&app, id).await;
    assert_eq!(r.status, "cancelled");
    assert_eq!(r.lease_owner, None);
    // The worker's next heartbeat tells it to stop; its result is ignored.
    assert!(!heartbeat(&app, id, "w", LONG_LEASE, 0.6).await);
    assert!(!succeed(&app, id, "w").await);
    assert!(!fail(&app, id, "w", "stopped", true, 0, 0.0).await);
    assert!(!release(&app, id, "w").await);
    assert_eq!(status(&app, id).await, "cancelled");
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None);
}

#[tokio::test]
async fn a_finished_job_cannot_be_cancelled() {
    let app = manual_app().await;
    let done = enqueue(&app, 0, 3).await;
    claim(&app, "w", LONG_LEASE).await.expect("the job");
    assert!(succeed(&app, done, "w").await);
    let r = cancel(&app, done, None).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(status(&app, done).await, "succeeded");

    let dead = enqueue(&app, 0, 3).await;
    claim(&app, "w", LONG_LEASE).await.expect("the job");
    assert!(fail(&app, dead, "w", "bad", false, 0, 0.0).await);
    let r = cancel(&app, dead, None).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(status(&app, dead).await, "dead");
}

/// The id of the user a client is signed in as.
async fn user_id(c: &crate::helpers::Client) -> Id {
    let (status, v) = c.get("/api/me").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["user"]["id"]
        .as_str()
        .expect("user id")
        .parse()
        .expect("an id")
}

#[tokio::test]
async fn only_its_owner_or_an_operator_cancels_a_job() {
    let app = manual_app().await;
    let alice = user_id(&app.user("alice").await).await;
    let bob = user_id(&app.user("bob").await).await;
    let mine = enqueue_job(
        &app,
        NewJob {
            owner: Some(alice),
            ..new_job("noop")
        },
    )
    .await;
    let system = enqueue(&app, 0, 3).await;

    let r = cancel(&app, mine, Some(bob)).await;
    assert!(is_not_found(&r), "{r:?}");
    let r = cancel(&app, system, Some(alice)).await;
    assert!(is_not_found(&r), "{r:?}");
    assert_eq!(status(&app, mine).await, "queued");
    assert_eq!(status(&app, system).await, "queued");

    assert_eq!(cancel(&app, mine, Some(alice)).await, Ok(()));
    assert_eq!(status(&app, mine).await, "cancelled");
    assert_eq!(cancel(&app, system, None).await, Ok(()));
    assert_eq!(status(&app, system).await, "cancelled");
}

// ---------------------------------------------------------------- retry, release

#[tokio::test]
async fn an_operator_retries_a_dead_or_cancelled_job() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 2).await;
    for attempt in 1..=2 {
        let c = claim(&app, "w", LONG_LEASE).await.expect("due job");
        assert_eq!(c.attempt, attempt);
        assert!(fail(&app, id, "w", "boom", true, 0, 0.0).await);
    }
    assert_eq!(status(&app, id).await, "dead");
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None);

    assert_eq!(retry(&app, id).await, Ok(()));
    let r = row(&app, id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("queued", 0), "{r:?}");
    assert!(r.run_at <= now_ms());
    let c = claim(&app, "w", LONG_LEASE).await.expect("claimable again");
    assert_eq!((c.id, c.attempt), (id, 1), "a full set of attempts");
    // Running: not retryable; then succeeded: not retryable either.
    assert!(is_conflict(&retry(&app, id).await));
    assert!(succeed(&app, id, "w").await);
    let r = retry(&app, id).await;
    assert!(is_conflict(&r), "{r:?}");
    assert_eq!(status(&app, id).await, "succeeded");
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None);

    let queued = enqueue(&app, 0, 3).await;
    assert!(is_conflict(&retry(&app, queued).await), "already queued");
    assert_eq!(cancel(&app, queued, None).await, Ok(()));
    assert_eq!(retry(&app, queued).await, Ok(()));
    assert_eq!(status(&app, queued).await, "queued");
    assert_eq!(
        claim(&app, "w", LONG_LEASE).await.map(|c| c.id),
        Some(queued)
    );

    assert!(is_not_found(&retry(&app, Id::generate()).await));
}

#[tokio::test]
async fn a_released_job_goes_back_without_using_an_attempt() {
    let app = manual_app().await;
    let id = enqueue(&app, 0, 1).await;
    let c = claim(&app, "w1", LONG_LEASE).await.expect("the job");
    assert_eq!(c.attempt, 1);
    assert!(!release(&app, id, "w2").await, "not w2's job");
    assert_eq!(status(&app, id).await, "running");

    assert!(release(&app, id, "w1").await);
    let r = row(&app, id).await;
    assert_eq!((r.status.as_str(), r.attempts), ("queued", 0), "{r:?}");
    assert_eq!((r.lease_owner, r.lease_expires_at), (None, None));
    assert!(!heartbeat(&app, id, "w1", LONG_LEASE, 0.5).await);
    // Its only attempt is still there.
    let c = claim(&app, "w2", LONG_LEASE)
        .await
        .expect("claimable again");
    assert_eq!((c.id, c.attempt, c.max_attempts), (id, 1, 1));
    assert!(succeed(&app, id, "w2").await);
    assert_eq!(status(&app, id).await, "succeeded");
}

// ---------------------------------------------------------------- concurrency

/// Enqueues `n` noop jobs at once (they share group commits).
async fn enqueue_many(app: &TestApp, n: usize) -> HashSet<Id> {
    let mut set = JoinSet::new();
    for _ in 0..n {
        let writer = app.state.writer.clone();
        set.spawn(async move { writer.run(Enqueue(new_job("noop"))).await.expect("enqueue") });
    }
    let ids: HashSet<Id> = within(set.join_all()).await.into_iter().collect();
    assert_eq!(ids.len(), n);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_workers_never_run_a_job_twice() {
    let app = manual_app().await;
    let enqueued = enqueue_many(&app, 200).await;

    let mut workers = JoinSet::new();
    for n in 0..8 {
        let writer = app.state.writer.clone();
        workers.spawn(async move {
            let name = format!("worker-{n}");
            let mut ran = Vec::new();
            loop {
                let claim = Claim {
                    worker: name.clone(),
                    kinds: vec!["noop".into()],
                    lease_ms: LONG_LEASE,
                };
                let Some(job) = writer.run(claim).await.expect("claim") else {
                    return ran;
                };
                assert_eq!(job.attempt, 1, "{job:?}");
                let done = Succeed {
                    id: job.id,
                    worker: name.clone(),
                };
                assert_eq!(writer.run(done).await, Ok(true));
                ran.push(job.id);
            }
        });
    }
    let per_worker = within(workers.join_all()).await;
    let ran: Vec<Id> = per_worker.iter().flatten().copied().collect();
    let unique: HashSet<Id> = ran.iter().copied().collect();
    assert_eq!(ran.len(), 200, "a job ran twice, or one never ran");
    assert_eq!(unique, enqueued);
    assert_eq!(
        app.db_count("SELECT count(*) FROM jobs WHERE status = 'succeeded' AND attempts = 1")
            .await,
        200
    );
    assert_eq!(app.db_count("SELECT count(*) FROM jobs").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn worker_steps_run_every_job_once() {
    use kith::jobs::worker::{Outcome, WorkerConfig, try_execute_one};

    let app = manual_app().await;
    enqueue_many(&app, 100).await;
    let shutdown = kith::tasks::Tasks::default();
    let mut workers = JoinSet::new();
    for n in 0..4 {
        let state = app.state.clone();
        let shutdown = shutdown.clone();
        workers.spawn(async move {
            let cfg = WorkerConfig {
                name: format!("step-{n}"),
                kinds: kith::app::job_kinds(&state),
                lease: Duration::from_secs(30),
                retry_base: Duration::from_secs(1),
            };
            let mut succeeded = 0;
            loop {
                match try_execute_one(&state.writer, &cfg, &shutdown).await {
                    Ok(Outcome::Succeeded) => succeeded += 1,
                    Ok(Outcome::Idle) => return succeeded,
                    other => panic!("worker step: {other:?}"),
                }
            }
        });
    }
    let total: usize = within(workers.join_all()).await.into_iter().sum();
    assert_eq!(total, 100);
    assert_eq!(
        app.db_count(
            "SELECT count(*) FROM jobs WHERE status = 'succeeded' AND attempts = 1 AND progress = 1"
        )
        .await,
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_servers_workers_run_enqueued_jobs() {
    let app = spawn_with(|c| c.workers = 4).await;
    enqueue_many(&app, 100).await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let done = app
            .db_count("SELECT count(*) FROM jobs WHERE status = 'succeeded'")
            .await;
        if done == 100 {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of 100 jobs ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.db_count("SELECT count(*) FROM jobs WHERE attempts = 1 AND lease_owner IS NULL")
            .await,
        100,
        "each job ran once"
    );
}

// ---------------------------------------------------------------- HTTP

#[tokio::test]
async fn a_job_is_shown_to_its_owner_only() {
    let app = manual_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let alice_id = user_id(&alice).await;
    let id = enqueue_job(
        &app,
        NewJob {
            owner: Some(alice_id),
            priority: 7,
            ..new_job("noop")
        },
    )
    .await;
    let path = format!("/api/jobs/{id}");

    let (status, v) = alice.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["id"], id.to_string());
    assert_eq!(v["kind"], "noop");
    assert_eq!(v["status"], "queued");
    assert_eq!(v["priority"], 7);
    assert_eq!(v["attempts"], 0);
    assert_eq!(v["max_attempts"], 3);
    assert_eq!(v["progress"], 0.0);
    assert!(v["last_error"].is_null(), "{v}");
    assert!(v.get("owner_id").is_none(), "{v}");

    claim(&app, "w", LONG_LEASE).await.expect("the job");
    assert!(heartbeat(&app, id, "w", LONG_LEASE, 0.5).await);
    let (status, v) = alice.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "running");
    assert_eq!(v["attempts"], 1);
    assert_eq!(v["progress"], 0.5);

    assert!(fail(&app, id, "w", "no space", false, 0, 0.0).await);
    let (_, v) = alice.get(&path).await;
    assert_eq!(v["status"], "dead");
    assert_eq!(v["last_error"], "no space");

    let (status, v) = bob.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    crate::helpers::assert_error(&v, "not_found");
    let (status, v) = alice.get(&format!("/api/jobs/{}", Id::generate())).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let unowned = enqueue(&app, 0, 3).await;
    let (status, v) = alice.get(&format!("/api/jobs/{unowned}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = app.client().get(&path).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");
}

// ---------------------------------------------------------------- CLI

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `kith` with `args` (and `KITH_DB` if given).
async fn kith(args: &[&str], db: Option<&std::path::Path>) -> Run {
    let mut cmd = tokio::process::Command::new(KITH);
    cmd.args(args).env("RUST_LOG", "warn").kill_on_drop(true);
    if let Some(db) = db {
        cmd.env("KITH_DB", db);
    } else {
        cmd.env_remove("KITH_DB");
    }
    let out = within(cmd.output()).await.expect("run kith");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The line of `kith jobs list` output about job `id`.
fn line_of(out: &str, id: Id) -> &str {
    let id = id.to_string();
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("job {id} not listed:\n{out}"))
}

#[tokio::test]
async fn the_cli_lists_retries_and_cancels_jobs_beside_a_running_server() {
    let app = manual_app().await;
    let db = app.data_dir.join("kith.db");
    let db = Some(db.as_path());

    let dead = enqueue(&app, 0, 3).await;
    claim(&app, "w", LONG_LEASE).await.expect("the job");
    assert!(fail(&app, dead, "w", "bad input", false, 0, 0.0).await);
    let done = enqueue(&app, 0, 3).await;
    claim(&app, "w", LONG_LEASE).await.expect("the job");
    assert!(succeed(&app, done, "w").await);
    let queued = enqueue(&app, 0, 3).await;

    let run = kith(&["jobs", "list"], db).await;
    assert!(run.ok, "{}", run.stderr);
    let dead_line = line_of(&run.stdout, dead);
    assert!(dead_line.contains("dead"), "{dead_line}");
    assert!(dead_line.contains("1/3"), "{dead_line}");
    assert!(dead_line.contains("bad input"), "{dead_line}");
    assert!(line_of(&run.stdout, done).contains("succeeded"));
    assert!(line_of(&run.stdout, queued).contains("queued"));

    let run = kith(&["jobs", "list", "--status", "dead"], db).await;
    assert!(run.ok, "{}", run.stderr);
    line_of(&run.stdout, dead);
    assert!(!run.stdout.contains(&queued.to_string()), "{}", run.stdout);

    // Retry a dead job: queued with fresh attempts; the server runs it.
    let dead_s = dead.to_string();
    let run = kith(&["jobs", "retry", &dead_s], db).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.contains(&dead_s), "{}", run.stdout);
    let r = row(&app, dead).await;
    assert_eq!((r.status.as_str(), r.attempts), ("queued", 0), "{r:?}");

    // Cancel a queued job: never claimed.
    let queued_s = queued.to_string();
    let run = kith(&["jobs", "cancel", &queued_s], db).await;
    assert!(run.ok, "{}", run.stderr);
    assert!(run.stdout.contains(&queued_s), "{}", run.stdout);
    assert!(run.stdout.contains("cancelled"), "{}", run.stdout);
    assert_eq!(status(&app, queued).await, "cancelled");

    let c = claim(&app, "w", LONG_LEASE).await.expect("the retried job");
    assert_eq!((c.id, c.attempt), (dead, 1));
    assert_eq!(claim(&app, "w", LONG_LEASE).await, None);

    // Errors: a bad id, an unknown job, a retry of a succeeded job.
    let run = kith(&["jobs", "cancel", "not-an-id!"], db).await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("not a job id"), "{}", run.stderr);
    let run = kith(&["jobs", "retry", "not-an-id!"], db).await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("not a job id"), "{}", run.stderr);
    let run = kith(&["jobs", "cancel", &Id::generate().to_string()], db).await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    let run = kith(&["jobs", "retry", &done.to_string()], db).await;
    assert!(!run.ok, "{}", run.stdout);
    assert!(run.stderr.contains("succeeded"), "{}", run.stderr);
    assert_eq!(status(&app, done).await, "succeeded");
    // The server still writes after the CLI's transactions.
    assert!(succeed(&app, dead, "w").await);
}

/// `--db` is documented on `kith jobs list|retry|cancel`, after the action.
#[tokio::test]
async fn the_cli_takes_db_after_the_action() {
    let app = manual_app().await;
    let db = app.data_dir.join("kith.db");
    let db = db.to_str().expect("a UTF-8 path");
    let id = enqueue(&app, 0, 3).await;
    let id_s = id.to_string();

    let run = kith(&["jobs", "list", "--db", db], None).await;
    assert!(run.ok, "jobs list --db: {}", run.stderr);
    assert!(line_of(&run.stdout, id).contains("queued"));
    let run = kith(&["jobs", "cancel", &id_s, "--db", db], None).await;
    assert!(run.ok, "jobs cancel ID --db: {}", run.stderr);
    assert_eq!(status(&app, id).await, "cancelled");
    let run = kith(&["jobs", "retry", &id_s, "--db", db], None).await;
    assert!(run.ok, "jobs retry ID --db: {}", run.stderr);
    assert_eq!(status(&app, id).await, "queued");
}
