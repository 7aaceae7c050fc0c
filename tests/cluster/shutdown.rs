//! A node stopped with SIGTERM gives its running job back at once: the job
//! is queued again with its lease cleared and its attempt not charged, and
//! another node takes it long before the lease would have run out.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::*;

/// Long: were the job not given back, no one could take it for ten
/// minutes.
const LEASE_SECS: u64 = 600;
/// ffmpeg runs in the idle scheduling class: on a busy machine the
/// transcode itself may take minutes.
const TRANSCODE_WAIT: Duration = Duration::from_secs(300);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[tokio::test]
async fn a_stopping_node_releases_its_job_to_another_at_once() {
    // node0: the primary, no workers; node1: the one worker at first;
    // node2 (started later): a worker too.
    let mut cluster = spawn_cluster_with(
        2,
        Options {
            workers: vec![0, 1, 1],
            job_lease_secs: LEASE_SECS,
            ..Options::default()
        },
    )
    .await;
    let clip = cluster.dir.path().join("long.mp4");
    crate::clip::make_clip(&clip, 640, 360, 12, false).await;
    let n1 = &cluster.nodes[1];
    let alice = signup(n1, "alice").await;
    let media = upload_video(n1, &alice, std::fs::read(&clip).expect("clip")).await;
    let n1_port = n1.http.port();
    eventually("node1 runs the transcode", TIMEOUT, || async {
        let n = cluster
            .db_count(&format!(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'video' AND status = 'running'
                   AND lease_owner LIKE '%-{n1_port}-%'"
            ))
            .await;
        (n == 1).then_some(())
    })
    .await;
    let lease_until = cluster
        .db_count("SELECT lease_expires_at FROM jobs WHERE kind = 'video'")
        .await;

    cluster.nodes[1].stop().await;
    let exited = Instant::now();
    let exited_ms = now_ms();
    // Right after the exit: queued again, no lease, the attempt given back.
    let released = cluster
        .db_count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'video' AND status = 'queued'
               AND lease_owner IS NULL AND lease_expires_at IS NULL AND attempts = 0",
        )
        .await;
    if released != 1 {
        let job: String = cluster
            .db_value(
                "SELECT status || ' attempts=' || attempts || ' owner=' || ifnull(lease_owner, '-')
                        || ' error=' || ifnull(last_error, '-') FROM jobs WHERE kind = 'video'",
            )
            .await;
        panic!(
            "the job was not released: {job}; node1's log:\n{}",
            cluster.nodes[1].log()
        );
    }

    // Another node takes it as soon as it looks.
    let n2_port = cluster.add_node("replica", SECRET).await.http.port();
    let taken_ms = eventually("node2 takes the job", TIMEOUT, || async {
        let n = cluster
            .db_count(&format!(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'video' AND (status = 'succeeded'
                   OR (status = 'running' AND lease_owner LIKE '%-{n2_port}-%'))"
            ))
            .await;
        (n == 1).then(now_ms)
    })
    .await;
    eprintln!(
        "taken by node2 {:?} after node1 exited; node1's lease had {} s left",
        exited.elapsed(),
        (lease_until - exited_ms) / 1000
    );
    assert!(
        lease_until - taken_ms > LEASE_SECS as i64 * 1000 / 2,
        "taken only {} ms before node1's lease would have expired",
        lease_until - taken_ms
    );

    let node2 = &cluster.nodes[2];
    let v = ready_on(node2, &alice, &media, TRANSCODE_WAIT).await;
    assert_eq!(v["height"], 360, "{v}");
    assert!(
        now_ms() < lease_until,
        "finished only after node1's lease would have expired"
    );
    let attempts = cluster
        .db_count("SELECT attempts FROM jobs WHERE kind = 'video'")
        .await;
    assert_eq!(attempts, 1, "node1's interrupted attempt was not charged");
}
