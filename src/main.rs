//! The `kith` command: parses arguments and hands over to the library.

use clap::Parser;
use kith::config::{Cli, Command};
use kith::{App, Config};
use tracing_subscriber::EnvFilter;

/// mimalloc returns freed memory to the system; glibc's malloc kept each
/// argon2 hash's 19 MiB in its arenas for good.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Migrate(storage)) => {
            let version = kith::db::migrate(&storage.db_path())?;
            println!(
                "schema at version {version}: {}",
                storage.db_path().display()
            );
        }
        Some(Command::Backup(args)) => {
            let copy = kith::backup::backup(&args.storage.db_path(), &args.path, args.force)?;
            println!("backup written: {copy}");
        }
        Some(Command::Restore(args)) => {
            let db = kith::backup::restore::restore(&args.backup, &args.storage)?;
            println!("restored {} to {db}", args.backup.display());
        }
        Some(Command::Jobs { action }) => {
            let db = action.storage().db_path();
            print!("{}", kith::jobs::cli::run(&db, action)?);
        }
        Some(Command::Admin { action }) => {
            let db = action.storage().db_path();
            match kith::admin::run(&db, action) {
                Ok(out) => print!("{out}"),
                // An operator's mistake, not a bug: one line, whatever
                // RUST_BACKTRACE says.
                Err(e) => {
                    eprintln!("error: {e:#}");
                    std::process::exit(1);
                }
            }
        }
        Some(Command::Serve(args)) => App::build(Config::from(*args)).await?.run().await?,
        None => App::build(Config::from(cli.serve)).await?.run().await?,
    }
    Ok(())
}
