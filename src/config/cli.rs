//! The command line: `kith` and its subcommands, every flag with its
//! `KITH_*` variable and its default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::limits::LimitArgs;

#[derive(Debug, Parser)]
#[command(
    name = "kith",
    version,
    about = "One binary that is a whole social app's server"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve`, the default command.
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, the realtime endpoints and the web client (default).
    Serve(Box<ServeArgs>),
    /// Apply the schema to the database and exit.
    Migrate(StorageArgs),
    /// Write a consistent copy of the database to PATH (beside a running
    /// server or not).
    Backup(BackupArgs),
    /// Replace the database with a backup; the server must be stopped.
    Restore(RestoreArgs),
    /// Inspect and steer the job queue.
    Jobs {
        #[command(subcommand)]
        action: JobsCmd,
    },
    /// Operators' tools: list, ban and unban accounts, grant and revoke
    /// admin rights (on the primary, beside a running server or not).
    Admin {
        #[command(subcommand)]
        action: AdminCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Accounts: list them, ban and unban them, make them admins.
    User {
        #[command(subcommand)]
        action: AdminUserCmd,
    },
}

/// `kith admin user ...`; USER is a username or a user id.
#[derive(Debug, Subcommand)]
pub enum AdminUserCmd {
    /// Lists accounts, newest first.
    List {
        /// Only banned accounts.
        #[arg(long)]
        banned: bool,
        /// Only admins.
        #[arg(long)]
        admins: bool,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Bans an account: it is signed out everywhere at once, its sockets
    /// close, and it cannot sign in again until unbanned.
    Ban {
        /// A username or a user id.
        user: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Lifts a ban.
    Unban {
        /// A username or a user id.
        user: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Lets an account remove anyone's posts and comments.
    MakeAdmin {
        /// A username or a user id.
        user: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Takes admin rights back.
    RevokeAdmin {
        /// A username or a user id.
        user: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Creates an account (whatever --signup allows) and prints a one-time
    /// link, valid for an hour, at which its owner sets the password.
    Create {
        /// The new username.
        username: String,
        /// The name shown [default: the username].
        #[arg(long)]
        display_name: Option<String>,
        /// Make it an admin too.
        #[arg(long)]
        admin: bool,
        /// The address people open kith at, for the link.
        #[arg(long, env = "KITH_PUBLIC_URL", default_value = "http://127.0.0.1:8080",
              value_parser = parse_public_url)]
        public_url: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Prints a one-time password-reset link for an account, valid for an
    /// hour (for a server that sends no mail, or a user without an
    /// address).
    ResetLink {
        /// A username or a user id.
        user: String,
        /// The address people open kith at, for the link.
        #[arg(long, env = "KITH_PUBLIC_URL", default_value = "http://127.0.0.1:8080",
              value_parser = parse_public_url)]
        public_url: String,
        #[command(flatten)]
        storage: StorageArgs,
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

/// `kith backup PATH`.
#[derive(Clone, Debug, Args)]
pub struct BackupArgs {
    /// The file to write; an existing one is replaced only with --force.
    pub path: PathBuf,
    /// Replace PATH if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// `kith restore BACKUP`.
#[derive(Clone, Debug, Args)]
pub struct RestoreArgs {
    /// A copy written by `kith backup` (or any consistent copy of a kith
    /// database).
    pub backup: PathBuf,
    #[command(flatten)]
    pub storage: StorageArgs,
}

// The defaults, written once: the flags and [`Config::for_dir`] both use
// them (README.md's table lists them).
/// Transcoding is CPU-bound: one ffmpeg at a time per node, at idle
/// priority, leaves the node's cores to requests.
pub(super) const DEFAULT_WORKERS: usize = 1;
pub(super) const DEFAULT_FFMPEG: &str = "ffmpeg";
/// Uploads stream to disk, so this bounds disk use and transcode time,
/// not memory.
pub(super) const DEFAULT_MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;
/// What one user may store (media and unfinished uploads): a few thousand
/// phone photos, or an hour of phone video.
pub(super) const DEFAULT_USER_QUOTA_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// A worker renews its lease every third of this, so a dead worker's job
/// is taken over within this long.
pub(super) const DEFAULT_JOB_LEASE: Duration = Duration::from_secs(30);
pub(super) const DEFAULT_JOB_RETRY_BASE: Duration = Duration::from_secs(2);
pub(super) const DEFAULT_TRANSCODE_TIMEOUT: Duration = Duration::from_secs(1800);
pub(super) const DEFAULT_MEDIA_STORE: &str = "local";

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
    /// With a bucket (--media-store), the local working area.
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

impl AdminCmd {
    pub fn storage(&self) -> &StorageArgs {
        match self {
            AdminCmd::User { action } => match action {
                AdminUserCmd::List { storage, .. }
                | AdminUserCmd::Ban { storage, .. }
                | AdminUserCmd::Unban { storage, .. }
                | AdminUserCmd::MakeAdmin { storage, .. }
                | AdminUserCmd::RevokeAdmin { storage, .. }
                | AdminUserCmd::Create { storage, .. }
                | AdminUserCmd::ResetLink { storage, .. } => storage,
            },
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
    /// Let link previews fetch from loopback and private addresses (tests,
    /// intranets); link-local and cloud metadata addresses stay refused.
    #[arg(long, env = "KITH_LINKS_ALLOW_PRIVATE")]
    pub links_allow_private: bool,
    /// Accept Web Push subscriptions whose endpoint is plain http or on a
    /// loopback or private address (tests, intranet push services);
    /// link-local and metadata addresses stay refused.
    #[arg(long, env = "KITH_PUSH_ALLOW_PRIVATE")]
    pub push_allow_private: bool,
    /// How long a notification stays unread before it goes into an email
    /// digest (to people with a verified address who want it), in seconds.
    #[arg(long, env = "KITH_DIGEST_AFTER_SECS", default_value_t = 1800)]
    pub digest_after_secs: u64,
    /// Do not serve WebTransport (UDP on the HTTP port number).
    #[arg(long, env = "KITH_NO_WEBTRANSPORT")]
    pub no_webtransport: bool,
    /// UDP address for WebTransport, `HOST:PORT` (a host name is resolved:
    /// on Fly.io, `fly-global-services:8080`) [default: the --listen
    /// address].
    #[arg(long, env = "KITH_WT_LISTEN")]
    pub wt_listen: Option<String>,
    /// WebTransport certificate (PEM); otherwise a self-signed one is made
    /// and renewed.
    #[arg(long, env = "KITH_WT_CERT", requires = "wt_key")]
    pub wt_cert: Option<PathBuf>,
    /// Private key for --wt-cert (PEM).
    #[arg(long, env = "KITH_WT_KEY", requires = "wt_cert")]
    pub wt_key: Option<PathBuf>,
    /// Job workers on this node (0: none). Workers start only when ffmpeg
    /// is found.
    #[arg(long, env = "KITH_WORKERS", default_value_t = DEFAULT_WORKERS)]
    pub workers: usize,
    /// Job workers for quick jobs only (Web Push, mail, link previews),
    /// so that those never wait behind a transcode (0: none).
    #[arg(long, env = "KITH_QUICK_WORKERS", default_value_t = 2)]
    pub quick_workers: usize,
    /// The ffmpeg program (a path, or a name looked up in PATH); ffprobe is
    /// looked for beside it.
    #[arg(long, env = "KITH_FFMPEG", default_value = DEFAULT_FFMPEG)]
    pub ffmpeg: PathBuf,
    /// The largest upload accepted, in bytes.
    #[arg(long, env = "KITH_MAX_UPLOAD_BYTES", default_value_t = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,
    /// What one user may store in all (media and unfinished uploads), in
    /// bytes.
    #[arg(long, env = "KITH_USER_QUOTA_BYTES", default_value_t = DEFAULT_USER_QUOTA_BYTES)]
    pub user_quota_bytes: u64,
    /// A job's lease: a worker silent this long loses the job to another.
    #[arg(long, env = "KITH_JOB_LEASE_SECS", default_value_t = DEFAULT_JOB_LEASE.as_secs())]
    pub job_lease_secs: u64,
    /// The first retry's delay; later retries double it (with jitter).
    #[arg(long, env = "KITH_JOB_RETRY_BASE_MS", default_value_t = DEFAULT_JOB_RETRY_BASE.as_millis() as u64)]
    pub job_retry_base_ms: u64,
    /// A transcode running longer than this is killed and retried.
    #[arg(long, env = "KITH_TRANSCODE_TIMEOUT_SECS", default_value_t = DEFAULT_TRANSCODE_TIMEOUT.as_secs())]
    pub transcode_timeout_secs: u64,
    /// Where media files live: `local` (the media dir) or
    /// `s3://BUCKET[/PREFIX]`, an S3-compatible bucket (credentials, region
    /// and endpoint from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION and AWS_ENDPOINT_URL[_S3]).
    #[arg(long, env = "KITH_MEDIA_STORE", default_value = DEFAULT_MEDIA_STORE)]
    pub media_store: String,
    /// Back the database up this often (`90s`, `30m`, `6h`, `1d`, `1h30m`):
    /// the primary writes `kith-YYYYMMDDTHHMMSSZ.db` into --backup-dir.
    #[arg(long, env = "KITH_BACKUP_EVERY", value_parser = parse_duration)]
    pub backup_every: Option<Duration>,
    /// Where periodic backups go [default: DATA_DIR/backups].
    #[arg(long, env = "KITH_BACKUP_DIR", requires = "backup_every")]
    pub backup_dir: Option<PathBuf>,
    /// How many periodic backups to keep; older ones are deleted.
    #[arg(long, env = "KITH_BACKUP_KEEP", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub backup_keep: u32,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub community: CommunityArgs,
    #[command(flatten)]
    pub mail: MailArgs,
}

/// Who may join, and the address people reach the server at.
#[derive(Clone, Debug, Args)]
pub struct CommunityArgs {
    /// Who may sign up: `open` (anyone), `invite` (with an invite code),
    /// `approval` (an admin approves each account) or `closed` (accounts
    /// only from `kith admin user create`).
    #[arg(long, env = "KITH_SIGNUP", value_enum, default_value_t = SignupMode::Open)]
    pub signup: SignupMode,
    /// Let every user make invite codes, not only admins.
    #[arg(long, env = "KITH_USERS_MAY_INVITE")]
    pub users_may_invite: bool,
    /// The address people open kith at, for links in mail and reset links
    /// (`https://kith.example`) [default: http://<--listen>].
    #[arg(long, env = "KITH_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
}

/// Who may sign up.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SignupMode {
    /// Anyone (the default, for a single self-hoster and their friends).
    Open,
    /// With an invite code.
    Invite,
    /// Anyone may apply; an admin approves each account.
    Approval,
    /// No sign-up: accounts come from `kith admin user create`.
    Closed,
}

/// Outgoing mail (address verification, password resets).
#[derive(Clone, Debug, Args)]
pub struct MailArgs {
    /// The SMTP server: `smtp://HOST[:PORT]` (STARTTLS when offered,
    /// required with `?tls=required`), `smtps://HOST[:PORT]` (TLS), with
    /// `USER:PASSWORD@` when it wants them. Without it kith sends no mail.
    #[arg(
        long,
        env = "KITH_SMTP_URL",
        hide_env_values = true,
        requires = "mail_from"
    )]
    pub smtp_url: Option<String>,
    /// The From address of kith's mail (`kith <kith@example.org>`).
    #[arg(long, env = "KITH_MAIL_FROM", requires = "smtp_url")]
    pub mail_from: Option<String>,
}

/// An http(s) URL without a trailing slash.
fn parse_public_url(s: &str) -> Result<String, String> {
    let t = s.trim().trim_end_matches('/');
    let ok = (t.starts_with("http://") || t.starts_with("https://"))
        && t.len() > "https://".len()
        && !t.contains(char::is_whitespace);
    if ok {
        Ok(t.to_owned())
    } else {
        Err(format!("{s:?} is not an http(s) URL"))
    }
}

/// Which node writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleChoice {
    /// This node runs the writer.
    Primary,
    /// This node forwards writes to the primary.
    Replica,
    /// With --litefs-dir: a replica while LiteFS names another primary,
    /// the primary otherwise. Without it: the primary.
    Auto,
}

/// Clustering: several identical nodes on one replicated database.
#[derive(Clone, Debug, Args)]
pub struct ClusterArgs {
    /// UDP address of this node's cluster endpoint; enables clustering.
    #[arg(long, env = "KITH_CLUSTER_LISTEN", requires = "cluster_secret")]
    pub cluster_listen: Option<SocketAddr>,
    /// The address other nodes reach this one's cluster endpoint at
    /// [default: --cluster-listen; when that is a wildcard address, the
    /// host's Fly.io private address (FLY_PRIVATE_IP) with its port].
    #[arg(long, env = "KITH_CLUSTER_ADVERTISE")]
    pub cluster_advertise: Option<SocketAddr>,
    /// The secret every node of the cluster shares (at least 16 bytes).
    #[arg(long, env = "KITH_CLUSTER_SECRET", hide_env_values = true,
          requires = "cluster_listen", value_parser = parse_secret)]
    pub cluster_secret: Option<String>,
    /// Which node writes.
    #[arg(long, env = "KITH_ROLE", value_enum, default_value_t = RoleChoice::Auto)]
    pub role: RoleChoice,
    /// The LiteFS mount directory holding the database (`.primary` and the
    /// `-pos` file are read there).
    #[arg(long, env = "KITH_LITEFS_DIR")]
    pub litefs_dir: Option<PathBuf>,
    /// Bootstrap peers, `ENDPOINT_ID@HOST:PORT`, comma-separated (the
    /// `nodes` table is enough on a shared or replicated database).
    #[arg(long, env = "KITH_JOIN", value_delimiter = ',')]
    pub join: Vec<String>,
    /// This node's name; LiteFS's `.primary` file names the primary by it
    /// [default: the host name].
    #[arg(long, env = "KITH_NODE_NAME")]
    pub node_name: Option<String>,
    /// A region label shown in /healthz (on Fly.io, FLY_REGION).
    #[arg(long, env = "KITH_REGION", default_value = "")]
    pub region: String,
}

/// Parses a duration: whole numbers with a unit each, `s`, `m`, `h` or
/// `d` (`90s`, `30m`, `6h`, `1d`, `1h30m`); more than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration (for example 90s, 30m, 6h, 1d)");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut secs: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit: u64 = match &rest[..unit_len] {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        secs = n
            .checked_mul(unit)
            .and_then(|s| secs.checked_add(s))
            .ok_or_else(|| format!("{text:?} is too long"))?;
    }
    if secs == 0 {
        return Err(format!("{text:?}: the duration must be more than zero"));
    }
    Ok(Duration::from_secs(secs))
}

fn parse_secret(s: &str) -> Result<String, String> {
    if s.len() < 16 {
        return Err("the cluster secret must be at least 16 bytes".into());
    }
    Ok(s.to_owned())
}
