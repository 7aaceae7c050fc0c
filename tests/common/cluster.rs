//! `spawn_cluster(n)`: n kith processes (the real binary) on 127.0.0.1,
//! 127.0.0.2, … sharing one database file and one media dir; the first is
//! the primary, the others replicas that open the file read-only and
//! forward their writes.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::{Child, Command};

pub use crate::net::{free_tcp, free_udp};
pub use crate::wait::{TIMEOUT, eventually, within_for as within};

const KITH: &str = env!("CARGO_BIN_EXE_kith");
pub const SECRET: &str = "a cluster secret of some length";

pub struct Node {
    pub name: String,
    pub http: SocketAddr,
    pub data_dir: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// The network namespace it runs in ([`crate::faults`]), if any.
    netns: Option<String>,
    child: Option<Child>,
}

impl Node {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    pub async fn health(&self) -> Option<Value> {
        let res = http()
            .get(self.url("/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        res.json().await.ok()
    }

    /// SIGKILL: no goodbye to the others.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = within("kill", c.wait()).await;
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            let status = within("graceful stop", c.wait()).await.expect("wait");
            assert!(status.success(), "{} exited with {status}", self.name);
        }
    }

    /// SIGSTOP: the process hangs, its sockets open, answering nothing.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// SIGCONT after [`Node::pause`].
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.pid().expect("a running node");
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// Starts the process again with the same arguments.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "{} is still running", self.name);
        self.child = Some(launch(
            &self.args,
            &self.env,
            &self.data_dir,
            self.netns.as_deref(),
        ));
        wait_healthy(self).await;
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("node.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("client")
}

fn launch(
    args: &[String],
    env: &[(String, String)],
    data_dir: &PathBuf,
    netns: Option<&str>,
) -> Child {
    std::fs::create_dir_all(data_dir).expect("node dir");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data_dir.join("node.log"))
        .expect("log file");
    // `ip netns exec` execs kith itself: the child's pid is kith's.
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, KITH]);
            c
        }
        None => Command::new(KITH),
    };
    cmd.args(args)
        .env("RUST_LOG", "info,kith=debug")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start kith")
}

async fn wait_healthy(node: &mut Node) {
    let base = format!("http://{}", node.http);
    let log = node.data_dir.join("node.log");
    let child = node.child.as_mut().expect("a running node");
    if let Err(why) = crate::health::until_healthy(&base, child).await {
        panic!("{}: {why} (log: {})", node.name, log.display());
    }
}

pub struct Options {
    /// Job workers per node (index = node).
    pub workers: Vec<usize>,
    pub job_lease_secs: u64,
    /// Extra environment for every node.
    pub env: Vec<(String, String)>,
    /// Extra environment for one node (index = node).
    pub node_env: Vec<Vec<(String, String)>>,
    /// Each node gets a media dir of its own, as on separate hosts.
    pub own_media_dirs: bool,
    /// Each node runs `--role auto` with a LiteFS mount dir of its own,
    /// `mount{i}` (see [`Cluster::mount`]); the test plays LiteFS.
    pub litefs: bool,
    /// Serve WebTransport (off: `--no-webtransport`).
    pub webtransport: bool,
    /// Each node in a network namespace of its own, its cluster traffic
    /// through a proxy the test controls ([`Cluster::net`]).
    pub faults: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: vec![],
            job_lease_secs: 30,
            env: vec![],
            node_env: vec![],
            own_media_dirs: false,
            litefs: false,
            webtransport: false,
            faults: false,
        }
    }
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Declared after the nodes: dropped after they are killed.
    pub net: Option<crate::faults::Fabric>,
    pub dir: TempDir,
    opts: Options,
}

pub async fn spawn_cluster(n: usize) -> Cluster {
    spawn_cluster_with(n, Options::default()).await
}

pub async fn spawn_cluster_with(n: usize, opts: Options) -> Cluster {
    let dir = tempfile::tempdir().expect("temp dir");
    let net = opts.faults.then(|| crate::faults::Fabric::new(n));
    let mut cluster = Cluster {
        dir,
        nodes: vec![],
        net,
        opts,
    };
    for i in 0..n {
        if cluster.opts.litefs {
            // As LiteFS would have it: node0 holds the lease; the others
            // name it in `.primary`; every copy is at the same position.
            let mount = cluster.mount(i);
            std::fs::create_dir_all(&mount).expect("mount dir");
            if i > 0 {
                std::fs::write(mount.join(".primary"), "node0").expect(".primary");
            }
            set_pos(&mount, 1);
        }
        cluster
            .add_node(if i == 0 { "primary" } else { "replica" }, SECRET)
            .await;
    }
    cluster.wait_converged().await;
    cluster
}

impl Cluster {
    /// Starts one more node on the shared database.
    pub async fn add_node(&mut self, role: &str, secret: &str) -> &mut Node {
        let i = self.nodes.len();
        let (http, cluster) = match &self.net {
            Some(net) => (
                SocketAddr::from((net.node_ip(i), crate::faults::HTTP_PORT)),
                SocketAddr::from((net.node_ip(i), crate::faults::CLUSTER_PORT)),
            ),
            None => {
                let ip = Ipv4Addr::new(127, 0, 0, 1 + i as u8);
                (free_tcp(ip), free_udp(ip))
            }
        };
        let name = format!("node{i}");
        let data_dir = self.dir.path().join(&name);
        let workers = self.opts.workers.get(i).copied().unwrap_or(0);
        let args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            http.to_string(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--db".into(),
            self.dir.path().join("kith.db").display().to_string(),
            "--media-dir".into(),
            if self.opts.own_media_dirs {
                data_dir.join("media")
            } else {
                self.dir.path().join("media")
            }
            .display()
            .to_string(),
            "--cluster-listen".into(),
            cluster.to_string(),
            "--cluster-secret".into(),
            secret.into(),
            "--role".into(),
            if self.opts.litefs { "auto" } else { role }.into(),
            "--node-name".into(),
            name.clone(),
            "--workers".into(),
            workers.to_string(),
            "--quick-workers".into(),
            workers.to_string(),
            "--job-lease-secs".into(),
            self.opts.job_lease_secs.to_string(),
            "--job-retry-base-ms".into(),
            "200".into(),
        ];
        let mut args = args;
        if !self.opts.webtransport {
            args.push("--no-webtransport".into());
        }
        if self.opts.litefs {
            let mount = self.mount(i);
            std::fs::create_dir_all(&mount).expect("mount dir");
            args.extend(["--litefs-dir".into(), mount.display().to_string()]);
        }
        let netns = self.net.as_ref().map(|n| n.netns(i));
        if let Some(net) = &self.net {
            args.extend(["--cluster-advertise".into(), net.advertised(i).to_string()]);
        }
        let mut env = self.opts.env.clone();
        env.extend(self.opts.node_env.get(i).cloned().unwrap_or_default());
        let mut node = Node {
            child: Some(launch(&args, &env, &data_dir, netns.as_deref())),
            netns,
            env,
            name,
            http,
            data_dir,
            args,
        };
        wait_healthy(&mut node).await;
        self.nodes.push(node);
        self.nodes.last_mut().expect("just pushed")
    }

    /// Waits until every live node hears from every other over gossip.
    pub async fn wait_converged(&self) {
        let live: Vec<&Node> = self.nodes.iter().filter(|n| n.child.is_some()).collect();
        let want = live.len() - 1;
        for node in &live {
            eventually(
                &format!("{} hears from {want} peers", node.name),
                TIMEOUT,
                || async {
                    let h = node.health().await?;
                    (h["members"].as_array()?.len() >= want).then_some(())
                },
            )
            .await;
        }
    }

    /// Node `i`'s simulated LiteFS mount dir.
    pub fn mount(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("mount{i}"))
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("kith.db")
    }

    /// Runs `kith admin ARGS --db <the shared file>` (the operator's CLI,
    /// as on any node's machine) and asserts it succeeded.
    pub async fn admin_cli(&self, args: &[&str]) {
        let out = within(
            "kith admin",
            Command::new(KITH)
                .arg("admin")
                .args(args)
                .arg("--db")
                .arg(self.db_path())
                .env("RUST_LOG", "warn")
                .env_remove("KITH_DB")
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("run kith admin");
        assert!(
            out.status.success(),
            "kith admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A `SELECT COUNT(*)`-like query on the shared file, read-only.
    pub async fn db_count(&self, sql: &str) -> i64 {
        self.db_value(sql).await
    }

    /// The one value `sql` selects, read straight from the database file.
    pub async fn db_value<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(self.db_path())
            .read_only(true)
            .connect()
            .await
            .expect("open the database");
        within("query", sqlx::query_scalar(sql).fetch_one(&mut conn))
            .await
            .expect("query")
    }
}

/// Writes a LiteFS position file (`TXID/CHECKSUM`) for the shared database
/// in `mount`.
pub fn set_pos(mount: &std::path::Path, txid: u64) {
    let tmp = mount.join(".kith.db-pos.tmp");
    std::fs::write(&tmp, format!("{txid:016x}/{:016x}", txid * 7919)).expect("pos");
    std::fs::rename(tmp, mount.join("kith.db-pos")).expect("pos");
}

/// A signed-in user: the session cookie, usable against any node.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub cookie: String,
}

pub async fn signup(node: &Node, name: &str) -> User {
    let res = within(
        "signup",
        http()
            .post(node.url("/api/auth/signup"))
            .json(&json!({"username": name, "password": format!("password-{name}")}))
            .send(),
    )
    .await
    .expect("signup sent");
    let status = res.status();
    let cookie = crate::session::session_cookie(res.headers());
    let body = res.text().await.unwrap_or_default();
    assert_eq!(
        status,
        StatusCode::CREATED,
        "signup {name} on {}: {body}",
        node.name
    );
    User {
        name: name.into(),
        cookie: cookie.expect("session cookie"),
    }
}

impl User {
    /// Sends a request to `node` with this user's cookie, and the node's
    /// own origin for writes.
    pub async fn call(
        &self,
        node: &Node,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_keyed(node, method, path, body, None).await
    }

    /// [`User::call`] with an `Idempotency-Key`.
    pub async fn call_keyed(
        &self,
        node: &Node,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = http()
            .request(method, node.url(path))
            .header("cookie", &self.cookie)
            .header("origin", format!("http://{}", node.http));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        let res = within("request", req.send()).await.expect("request sent");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn get(&self, node: &Node, path: &str) -> (StatusCode, Value) {
        self.call(node, Method::GET, path, None).await
    }

    pub async fn post(&self, node: &Node, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(node, Method::POST, path, Some(body)).await
    }
}

/// Waits (up to `limit`) until media `id` is ready, as `user` reads it on
/// `node`; fails at once if it failed. Returns the media.
pub async fn ready_on(node: &Node, user: &User, id: &str, limit: Duration) -> Value {
    eventually(
        &format!("media {id} ready on {}", node.name),
        limit,
        || async {
            let (s, v) = user.get(node, &format!("/api/media/{id}")).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            assert_ne!(v["status"], "failed", "{v}");
            (v["status"] == "ready").then_some(v)
        },
    )
    .await
}

/// Uploads `data` as a video to `node` as `user`; returns the media id.
pub async fn upload_video(node: &Node, user: &User, data: Vec<u8>) -> String {
    let part = reqwest::multipart::Part::bytes(data)
        .file_name("clip.mp4")
        .mime_str("video/mp4")
        .expect("mime");
    let form = reqwest::multipart::Form::new().part("file", part);
    let res = within(
        "upload",
        http()
            .post(node.url("/api/media"))
            .header("cookie", &user.cookie)
            .header("origin", format!("http://{}", node.http))
            .multipart(form)
            .send(),
    )
    .await
    .expect("upload sent");
    let status = res.status();
    let v: Value = res.json().await.expect("json");
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    v["id"].as_str().expect("media id").to_string()
}

/// `a` (on `na`) asks `b` (on `nb`) to be friends; `b` accepts.
pub async fn befriend(a: &User, na: &Node, b: &User, nb: &Node) {
    let (s, v) = a
        .post(na, "/api/friends/requests", json!({"username": b.name}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_str().expect("request id");
    let (s, v) = b
        .call(
            nb,
            Method::POST,
            &format!("/api/friends/requests/{id}/accept"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
}

pub use crate::ws::Ws;

impl crate::ws::Server for Node {
    fn http_addr(&self) -> SocketAddr {
        self.http
    }
}

impl crate::ws::Member for User {
    fn cookie(&self) -> &str {
        &self.cookie
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Signs `name` in on `node`: another session of an existing user. The
/// status, and the session when it succeeded.
pub async fn login(node: &Node, name: &str) -> (StatusCode, Option<User>) {
    let res = within(
        "login",
        reqwest::Client::new()
            .post(node.url("/api/auth/login"))
            .json(&json!({"username": name, "password": format!("password-{name}")}))
            .send(),
    )
    .await
    .expect("login sent");
    let user = crate::session::session_cookie(res.headers()).map(|cookie| User {
        name: name.into(),
        cookie,
    });
    (res.status(), user)
}

/// Waits until `session` is refused (401) on every node.
/// Uses `session` on every node, so that each holds it in memory: a later
/// end must then reach every node's session cache, not only its database.
pub async fn signed_in_everywhere(cluster: &Cluster, session: &User) {
    for node in &cluster.nodes {
        let (status, v) = session.get(node, "/api/me").await;
        assert_eq!(status, StatusCode::OK, "signed in on {}: {v}", node.name);
    }
}

pub async fn ended_everywhere(cluster: &Cluster, session: &User) {
    for node in &cluster.nodes {
        eventually(
            &format!("the session is ended on {}", node.name),
            TIMEOUT,
            || async {
                let (status, _) = session.get(node, "/api/me").await;
                (status == StatusCode::UNAUTHORIZED).then_some(())
            },
        )
        .await;
    }
}
