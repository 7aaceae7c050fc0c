//! Typed configuration: what a server needs to start, made from the
//! command line ([`cli`]) or built directly by tests.

mod cli;

pub use cli::{
    AdminCmd, AdminUserCmd, BackupArgs, Cli, ClusterArgs, Command, CommunityArgs, JobsCmd,
    MailArgs, RestoreArgs, RoleChoice, ServeArgs, SignupMode, StorageArgs, parse_duration,
};
use cli::{
    DEFAULT_FFMPEG, DEFAULT_JOB_LEASE, DEFAULT_JOB_RETRY_BASE, DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_MEDIA_STORE, DEFAULT_TRANSCODE_TIMEOUT, DEFAULT_USER_QUOTA_BYTES, DEFAULT_WORKERS,
};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::limits::Limits;

/// On Fly.io, a wildcard listen address is reached over the private
/// network at FLY_PRIVATE_IP.
fn fly_private(listen: SocketAddr) -> Option<SocketAddr> {
    if !listen.ip().is_unspecified() {
        return None;
    }
    let ip: std::net::IpAddr = std::env::var("FLY_PRIVATE_IP").ok()?.parse().ok()?;
    Some(SocketAddr::new(ip, listen.port()))
}

/// The host name, as LiteFS names nodes by default (the kernel's, as Go's
/// `os.Hostname` reads it).
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "kith".into())
}

/// A node's cluster settings.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub listen: SocketAddr,
    /// What other nodes dial; `None`: the bound address.
    pub advertise: Option<SocketAddr>,
    pub secret: String,
    pub join: Vec<String>,
    pub name: String,
    pub region: String,
}

/// Periodic backups of the database (on the primary).
#[derive(Clone, Debug)]
pub struct BackupConfig {
    pub every: Duration,
    pub dir: PathBuf,
    /// How many to keep, at least 1.
    pub keep: usize,
}

/// What the server needs to start; tests build it directly.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub db: PathBuf,
    pub data_dir: PathBuf,
    pub media_dir: PathBuf,
    pub secure_cookies: bool,
    /// Link previews may fetch from loopback and private addresses (tests,
    /// intranets); link-local and metadata addresses stay refused.
    pub links_allow_private: bool,
    /// Web Push endpoints may be plain http or private (tests, intranets).
    pub push_allow_private: bool,
    /// Unread this long, a notification goes into an email digest.
    pub digest_after: Duration,
    pub webtransport: bool,
    /// WebTransport's UDP address; `None`: the HTTP address.
    pub wt_listen: Option<String>,
    pub wt_cert: Option<PathBuf>,
    pub wt_key: Option<PathBuf>,
    pub workers: usize,
    /// Workers that take quick jobs only (push, mail, link previews).
    pub quick_workers: usize,
    pub ffmpeg: PathBuf,
    pub max_upload_bytes: u64,
    pub user_quota_bytes: u64,
    pub job_lease: Duration,
    pub job_retry_base: Duration,
    pub transcode_timeout: Duration,
    /// `local` or `s3://BUCKET[/PREFIX]`.
    pub media_store: String,
    /// `None`: a single node.
    pub cluster: Option<ClusterConfig>,
    /// Abuse limits, and where a client's address comes from.
    pub limits: Limits,
    pub role: RoleChoice,
    pub litefs_dir: Option<PathBuf>,
    /// `None`: no periodic backups.
    pub backup: Option<BackupConfig>,
    pub community: Community,
    /// `None`: no mail is sent.
    pub mail: Option<MailConfig>,
}

/// Who may join, and where people reach the server.
#[derive(Clone, Debug)]
pub struct Community {
    pub signup: SignupMode,
    pub users_may_invite: bool,
    /// Links in mail start with this; `None`: `http://` and the HTTP
    /// address the node bound.
    pub public_url: Option<String>,
}

impl Default for Community {
    fn default() -> Self {
        Community {
            signup: SignupMode::Open,
            users_may_invite: false,
            public_url: None,
        }
    }
}

/// Where outgoing mail goes.
#[derive(Clone, Debug)]
pub struct MailConfig {
    pub smtp_url: String,
    pub from: String,
}

impl From<ServeArgs> for Config {
    fn from(a: ServeArgs) -> Self {
        let c = a.cluster;
        let cluster = match (c.cluster_listen, c.cluster_secret) {
            (Some(listen), Some(secret)) => Some(ClusterConfig {
                listen,
                advertise: c.cluster_advertise.or_else(|| fly_private(listen)),
                secret,
                join: c.join,
                name: c.node_name.unwrap_or_else(host_name),
                region: c.region,
            }),
            _ => None,
        };
        let backup = a.backup_every.map(|every| BackupConfig {
            every,
            dir: a
                .backup_dir
                .unwrap_or_else(|| a.storage.data_dir.join("backups")),
            keep: usize::try_from(a.backup_keep).unwrap_or(usize::MAX).max(1),
        });
        let mail = match (a.mail.smtp_url, a.mail.mail_from) {
            (Some(smtp_url), Some(from)) => Some(MailConfig { smtp_url, from }),
            _ => None,
        };
        Config {
            backup,
            mail,
            community: Community {
                signup: a.community.signup,
                users_may_invite: a.community.users_may_invite,
                public_url: a.community.public_url,
            },
            media_store: a.media_store,
            limits: a.limits.into(),
            cluster,
            role: c.role,
            litefs_dir: c.litefs_dir,
            listen: a.listen,
            db: a.storage.db_path(),
            media_dir: a.storage.media_path(),
            data_dir: a.storage.data_dir,
            secure_cookies: a.secure_cookies,
            links_allow_private: a.links_allow_private,
            push_allow_private: a.push_allow_private,
            digest_after: Duration::from_secs(a.digest_after_secs.max(1)),
            webtransport: !a.no_webtransport,
            wt_listen: a.wt_listen,
            wt_cert: a.wt_cert,
            wt_key: a.wt_key,
            workers: a.workers,
            quick_workers: a.quick_workers,
            ffmpeg: a.ffmpeg,
            max_upload_bytes: a.max_upload_bytes,
            user_quota_bytes: a.user_quota_bytes,
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
            links_allow_private: false,
            push_allow_private: false,
            digest_after: Duration::from_secs(1800),
            webtransport: true,
            wt_listen: None,
            wt_cert: None,
            wt_key: None,
            workers: DEFAULT_WORKERS,
            quick_workers: 2,
            ffmpeg: PathBuf::from(DEFAULT_FFMPEG),
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            user_quota_bytes: DEFAULT_USER_QUOTA_BYTES,
            job_lease: DEFAULT_JOB_LEASE,
            job_retry_base: DEFAULT_JOB_RETRY_BASE,
            transcode_timeout: DEFAULT_TRANSCODE_TIMEOUT,
            media_store: DEFAULT_MEDIA_STORE.into(),
            limits: Limits::default(),
            cluster: None,
            role: RoleChoice::Auto,
            litefs_dir: None,
            backup: None,
            community: Community::default(),
            mail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn durations_parse() {
        let d = |s| parse_duration(s).map(|d| d.as_secs());
        assert_eq!(d("1s"), Ok(1));
        assert_eq!(d("90s"), Ok(90));
        assert_eq!(d("30m"), Ok(1800));
        assert_eq!(d("6h"), Ok(6 * 3600));
        assert_eq!(d("1d"), Ok(86_400));
        assert_eq!(d("1h30m"), Ok(5400));
        assert_eq!(d(" 2h "), Ok(7200));
        for bad in [
            "",
            "6",
            "h",
            "6x",
            "6 h",
            "-1h",
            "1.5h",
            "0s",
            "0h0m",
            "1h-",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
        assert!(d("9999999999999999999d").is_err(), "overflow");
    }

    #[test]
    fn backup_flags() {
        let serve = |args: &[&str]| {
            Cli::try_parse_from([&["kith", "serve"][..], args].concat()).map(|cli| {
                match cli.command {
                    Some(Command::Serve(a)) => Config::from(*a).backup,
                    _ => None,
                }
            })
        };
        let b = serve(&["--data-dir", "d", "--backup-every", "6h"])
            .expect("parses")
            .expect("backups on");
        assert_eq!(
            (b.every, b.dir, b.keep),
            (Duration::from_secs(21_600), PathBuf::from("d/backups"), 7)
        );
        assert!(serve(&[]).expect("parses").is_none());
        // A directory without a period is a mistake, not a no-op.
        assert!(serve(&["--backup-dir", "b"]).is_err());
        assert!(serve(&["--backup-every", "1h", "--backup-keep", "0"]).is_err());
    }
}
