//! Typed configuration from command-line flags and `KITH_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;

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
        }
    }
}
