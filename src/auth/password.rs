//! Password hashing: argon2id with OWASP's parameters, run on the blocking
//! pool so that hashing never stalls the async threads.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

pub const MIN_LEN: usize = 8;
/// Long enough for any passphrase, short enough that nobody can make the
/// server hash megabytes.
pub const MAX_LEN: usize = 1024;

/// The hashing service.
///
/// Each hash costs ~19 MiB and tens of milliseconds of one core. The
/// semaphore allows one hash per core at a time: a burst of logins queues
/// instead of taking all memory and every blocking thread.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Verified against when the username does not exist, so that an
    /// unknown user costs the same time as a wrong password.
    dummy: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // OWASP: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub(crate) fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string())
}

impl Passwords {
    pub fn new() -> anyhow::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Passwords {
            permits: Arc::new(Semaphore::new(cores)),
            dummy: hash_blocking("not a password of anyone")?.into(),
        })
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .context("hashing task")?
    }

    /// Whether `password` matches `hash`; with no hash (unknown user),
    /// spends the same time and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.to_string());
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .context("verifying task")?;
        Ok(known && ok)
    }
}
