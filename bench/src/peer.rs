//! The comparison peer (`bench/peer/`): Express with express-session and
//! connect-redis, Socket.IO with the redis adapter on two Node processes,
//! BullMQ, all on a local `redis-server`; started and stopped through its
//! own `start.sh`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::process::Command;

pub struct Peer {
    /// The two Node processes' base URLs.
    pub bases: Vec<String>,
    /// `redis://127.0.0.1:PORT`, for BullMQ's benchmark.
    pub redis_url: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Peer {
    /// Starts Redis and both servers; `dir` is `bench/peer` (its
    /// `node_modules` installed by `npm ci`).
    pub async fn start(dir: &Path, pin: Option<&str>) -> anyhow::Result<Peer> {
        anyhow::ensure!(
            dir.join("node_modules").is_dir(),
            "{}: run `npm ci` there first (bench/run.sh does)",
            dir.display()
        );
        let (redis, a, b) = (free_port()?, free_port()?, free_port()?);
        let mut env = vec![
            ("REDIS_PORT".to_string(), redis.to_string()),
            ("PORT_A".to_string(), a.to_string()),
            ("PORT_B".to_string(), b.to_string()),
        ];
        if let Some(cpus) = pin {
            env.push(("PIN".to_string(), cpus.to_string()));
        }
        let peer = Peer {
            bases: vec![
                format!("http://127.0.0.1:{a}"),
                format!("http://127.0.0.1:{b}"),
            ],
            redis_url: format!("redis://127.0.0.1:{redis}"),
            dir: dir.to_path_buf(),
            env,
        };
        let out = peer.script(&[]).await?;
        if !out.status.success() {
            bail!(
                "starting the peer failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(peer)
    }

    async fn script(&self, args: &[&str]) -> anyhow::Result<std::process::Output> {
        Command::new("bash")
            .arg(self.dir.join("start.sh"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .await
            .context("running bench/peer/start.sh")
    }

    /// The PIDs of both servers and Redis.
    pub fn pids(&self) -> anyhow::Result<Vec<u32>> {
        ["server-a", "server-b", "redis"]
            .iter()
            .map(|name| {
                let file = self.dir.join(".run").join(format!("{name}.pid"));
                Ok(std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
                    .trim()
                    .parse()?)
            })
            .collect()
    }

    /// The summed resident memory (KiB) of Redis and both servers.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        self.pids()?.into_iter().map(crate::server::rss_of).sum()
    }

    pub async fn stop(self) {
        let _ = self.script(&["stop"]).await;
    }
}
