//! A real `kith` process for a scenario: started on a free loopback port
//! and a fresh data dir, waited on until healthy, killed at the end.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::process::{Child, Command};

use crate::Opts;

pub struct Server {
    child: Child,
    pub base: String,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `kith serve` on a fresh data dir with `extra` arguments.
    pub async fn start(opts: &Opts, extra: &[&str]) -> anyhow::Result<Server> {
        let dir = tempfile::tempdir()?;
        let mut server = Server::spawn(opts, [127, 0, 0, 1], dir.path(), extra).await?;
        server._dir = Some(dir);
        Ok(server)
    }

    /// Starts `kith serve` on `ip`, with `data_dir` and `extra` arguments.
    pub async fn spawn(
        opts: &Opts,
        ip: [u8; 4],
        data_dir: &std::path::Path,
        extra: &[&str],
    ) -> anyhow::Result<Server> {
        let addr = std::net::TcpListener::bind((std::net::Ipv4Addr::from(ip), 0))?.local_addr()?;
        let child = pinned(opts, &opts.kith_bin)
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data_dir)
            // The load generator is hundreds of users on one address, as
            // fast as they go: the abuse limits would stop it. The soak
            // keeps the per-user limits on (its users act at human rates).
            .arg("--no-auth-limits")
            .args(if opts.write_limits {
                &[][..]
            } else {
                &["--write-burst", "0"][..]
            })
            .args(extra)
            // KITH_BENCH_RUST_LOG (say `warn,sqlx::query=debug`, every
            // statement through sqlx) when a run needs explaining.
            .env(
                "RUST_LOG",
                std::env::var("KITH_BENCH_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            // The servers' warnings, when a run needs explaining.
            .stdout(if std::env::var_os("KITH_BENCH_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", opts.kith_bin.display()))?;
        let base = format!("http://{addr}");
        let probe = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = probe.get(format!("{base}/healthz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("kith did not become healthy in 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server {
            child,
            base,
            _dir: None,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// The kith process's resident set size in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        rss_of(self.child.id().context("kith has exited")?)
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// A client signed up as `bench` on the server at `base`, keeping its
/// cookie; requests may take up to 10 minutes (a whole transcode).
pub async fn signed_up(base: &str) -> anyhow::Result<reqwest::Client> {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(600))
        .build()?;
    let r = c
        .post(format!("{base}/api/auth/signup"))
        .json(&serde_json::json!({"username": "bench", "password": "bench-password"}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "signup: {}", r.status());
    Ok(c)
}

/// The resident set size (VmRSS, KiB) of process `pid`.
pub fn rss_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmRSS not found")
}

/// A command for `program`, run under `taskset -c` on the server CPUs
/// when the load generator keeps its own core (`--server-cpus`).
pub fn pinned(opts: &Opts, program: &std::path::Path) -> Command {
    match &opts.server_cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(program);
            c
        }
        None => Command::new(program),
    }
}

/// One API call; `cookie` sends a session explicitly (otherwise the
/// client's own cookie store does). Returns the JSON body, or an error for
/// a non-2xx answer.
pub async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    cookie: Option<&str>,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut req = c.request(method, url);
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await?;
    let status = res.status();
    let text = res.text().await?;
    if !status.is_success() {
        bail!("{status}: {text}");
    }
    Ok(if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)?
    })
}

/// Makes the users behind `cookie_a` and `cookie_b` friends: a request from
/// the first to `name_b`, accepted by the second.
pub async fn befriend(
    c: &reqwest::Client,
    base: &str,
    cookie_a: &str,
    cookie_b: &str,
    name_b: &str,
) -> anyhow::Result<()> {
    let r = call(
        c,
        reqwest::Method::POST,
        format!("{base}/api/friends/requests"),
        Some(cookie_a),
        Some(serde_json::json!({"username": name_b})),
    )
    .await?;
    let id = r["id"].as_str().context("request id")?;
    call(
        c,
        reqwest::Method::POST,
        format!("{base}/api/friends/requests/{id}/accept"),
        Some(cookie_b),
        None,
    )
    .await?;
    Ok(())
}
