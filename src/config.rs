//! Typed configuration from command-line flags and `KITH_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kith",
    version,
    about = "One binary that is a whole social app's server"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// Options of `serve`, the default command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Serve the API, the realtime endpoints and the web client (default).
    Serve(ServeArgs),
    /// Apply the schema to the database and exit.
    Migrate(StorageArgs),
    /// Inspect and steer the job queue.
    Jobs {
        #[command(subcommand)]
        action: JobsCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Lists jobs, newest first.
    List {
        /// Only jobs in this status (queued, running, succeeded, failed, dead, cancelled).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Runs a failed, dead or cancelled job again.
    Retry {
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Cancels a job; a running one is stopped by its worker.
    Cancel {
        id: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

/// Where kith keeps its data.
#[derive(Clone, Debug, Args)]
pub struct StorageArgs {
    /// Directory for the database, media and node identity; created if missing.
    #[arg(long, env = "KITH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The SQLite database file [default: DATA_DIR/kith.db].
    #[arg(long, env = "KITH_DB")]
    pub db: Option<PathBuf>,
    /// Where uploaded and transcoded media are stored [default: DATA_DIR/media].
    #[arg(long, env = "KITH_MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,
}

impl JobsCmd {
    pub fn storage(&self) -> &StorageArgs {
        match self {
            JobsCmd::List { storage, .. }
            | JobsCmd::Retry { storage, .. }
            | JobsCmd::Cancel { storage, .. } => storage,
        }
    }
}

impl StorageArgs {
    pub fn db_path(&self) -> PathBuf {
        self.db
            .clone()
            .unwrap_or_else(|| self.data_dir.join("kith.db"))
    }
    pub fn media_path(&self) -> PathBuf {
        self.media_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("media"))
    }
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address for HTTP and WebSocket.
    #[arg(long, env = "KITH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Mark the session cookie Secure and name it with the `__Host-` prefix.
    /// Use when kith is reached over HTTPS.
    #[arg(long, env = "KITH_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Do not serve WebTransport (UDP on the HTTP port number).
    #[arg(long, env = "KITH_NO_WEBTRANSPORT")]
    pub no_webtransport: bool,
    /// WebTransport certificate (PEM); otherwise a self-signed one is made
    /// and renewed.
    #[arg(long, env = "KITH_WT_CERT", requires = "wt_key")]
    pub wt_cert: Option<PathBuf>,
    /// Private key for --wt-cert (PEM).
    #[arg(long, env = "KITH_WT_KEY", requires = "wt_cert")]
    pub wt_key: Option<PathBuf>,
    /// Job workers on this node (0: none). Workers start only when ffmpeg
    /// is found.
    #[arg(long, env = "KITH_WORKERS", default_value_t = 1)]
    pub workers: usize,
    /// The ffmpeg program (a path, or a name looked up in PATH); ffprobe is
    /// looked for beside it.
    #[arg(long, env = "KITH_FFMPEG", default_value = "ffmpeg")]
    pub ffmpeg: PathBuf,
    /// The largest upload accepted, in bytes.
    #[arg(long, env = "KITH_MAX_UPLOAD_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// A job's lease: a worker silent this long loses the job to another.
    #[arg(long, env = "KITH_JOB_LEASE_SECS", default_value_t = 30)]
    pub job_lease_secs: u64,
    /// The first retry's delay; later retries double it (with jitter).
    #[arg(long, env = "KITH_JOB_RETRY_BASE_MS", default_value_t = 2000)]
    pub job_retry_base_ms: u64,
    /// A transcode running longer than this is killed and retried.
    #[arg(long, env = "KITH_TRANSCODE_TIMEOUT_SECS", default_value_t = 1800)]
    pub transcode_timeout_secs: u64,
}

/// What the server needs to start; tests build it directly.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub data_dir: PathBuf,
    pub media_dir: PathBuf,
    pub secure_cookies: bool,
    pub webtransport: bool,
    pub wt_cert: Option<PathBuf>,
    pub wt_key: Option<PathBuf>,
    pub workers: usize,
    pub ffmpeg: PathBuf,
    pub max_upload_bytes: u64,
    pub job_lease: Duration,
    pub job_retry_base: Duration,
    pub transcode_timeout: Duration,
}

impl From<ServeArgs> for Config {
    fn from(a: ServeArgs) -> Self {
        Config {
            listen: a.listen,
            db: a.storage.db_path(),
            media_dir: a.storage.media_path(),
            data_dir: a.storage.data_dir,
            secure_cookies: a.secure_cookies,
            webtransport: !a.no_webtransport,
            wt_cert: a.wt_cert,
            wt_key: a.wt_key,
            workers: a.workers,
            ffmpeg: a.ffmpeg,
            max_upload_bytes: a.max_upload_bytes,
            job_lease: Duration::from_secs(a.job_lease_secs.max(1)),
            job_retry_base: Duration::from_millis(a.job_retry_base_ms),
            transcode_timeout: Duration::from_secs(a.transcode_timeout_secs.max(1)),
        }
    }
}

impl Config {
    /// A config with everything under `dir` and an ephemeral port.
    pub fn for_dir(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: dir.join("kith.db"),
            media_dir: dir.join("media"),
            data_dir: dir,
            secure_cookies: false,
            webtransport: true,
            wt_cert: None,
            wt_key: None,
            workers: 1,
            ffmpeg: PathBuf::from("ffmpeg"),
            max_upload_bytes: 512 * 1024 * 1024,
            job_lease: Duration::from_secs(30),
            job_retry_base: Duration::from_secs(2),
            transcode_timeout: Duration::from_secs(1800),
        }
    }
}
