//! One SMTP delivery, step by step, each step under a timeout.
//!
//! lettre's `AsyncSmtpTransport` bounds only the TCP connect: a server
//! that stops answering mid-session would hold the attempt forever. It
//! also waits for the reply to QUIT before it reports a delivered
//! message, which would widen the window in which a delivered mail is
//! sent again (see `crate::mail`). So the session is driven here, on
//! lettre's connection type.

use std::future::Future;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::relay::{Relay, TlsMode};

/// The bound on each step (connect and greeting, STARTTLS, AUTH, the
/// mail transaction up to the final reply): a server that hangs fails
/// the attempt, which the queue retries later, instead of holding a
/// worker. 30 s is well above a loaded relay's slowest normal reply (a
/// few seconds for DATA with content scanning).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// QUIT after a delivery is a courtesy: the mail is the server's already.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an attempt failed, by what it says about the next one.
#[derive(Debug)]
pub enum Failure {
    /// The server, the road to it, or our settings: may well work later.
    Retry(String),
    /// The server refused this message for good (a 5xx to MAIL, RCPT or
    /// DATA).
    Refused(String),
    /// Stopped before the mail transaction began: nothing was sent.
    Stopped,
}

/// A relay, ready to deliver: TLS settings (Mozilla's roots) parsed once.
pub struct Smtp {
    relay: Relay,
    tls: Option<TlsParameters>,
    hello: ClientId,
    credentials: Option<Credentials>,
}

impl Smtp {
    pub fn new(relay: Relay) -> Result<Smtp, String> {
        let tls = TlsParameters::new(relay.host.clone())
            .map_err(|e| format!("TLS settings for {}: {e}", relay.host))?;
        let hello = relay
            .hello
            .clone()
            .map(ClientId::Domain)
            .unwrap_or_default();
        let credentials = relay
            .credentials
            .clone()
            .map(|(user, password)| Credentials::new(user, password));
        Ok(Smtp {
            relay,
            tls: Some(tls),
            hello,
            credentials,
        })
    }

    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Delivers `message` (its bytes as sent) to `envelope`'s recipients;
    /// `Ok` only on the server's 250 to the end of DATA. `stopped` is
    /// asked before the transaction begins, the last point where giving
    /// up cannot leave the server holding the message.
    pub async fn deliver(
        &self,
        envelope: &Envelope,
        message: &[u8],
        stopped: impl Fn() -> bool,
    ) -> Result<(), Failure> {
        let at = &self.relay;
        let wrapped = match at.tls {
            TlsMode::Implicit => self.tls.clone(),
            _ => None,
        };
        let mut conn = step(
            "connecting",
            at,
            AsyncSmtpConnection::connect_tokio1(
                (at.host.as_str(), at.port),
                Some(STEP_TIMEOUT),
                &self.hello,
                wrapped,
                None,
            ),
        )
        .await?;
        let starttls = match at.tls {
            TlsMode::Opportunistic => conn.can_starttls(),
            TlsMode::Required if !conn.can_starttls() => {
                return Err(Failure::Retry(format!(
                    "{at}: the server does not offer STARTTLS"
                )));
            }
            TlsMode::Required => true,
            TlsMode::Implicit => false,
        };
        if starttls && let Some(tls) = self.tls.clone() {
            step("STARTTLS", at, conn.starttls(tls, &self.hello)).await?;
        }
        if let Some(credentials) = &self.credentials {
            step("signing in", at, conn.auth(DEFAULT_MECHANISMS, credentials)).await?;
        }
        if stopped() {
            conn.abort().await;
            return Err(Failure::Stopped);
        }
        // From here the server may end up holding the message.
        match tokio::time::timeout(STEP_TIMEOUT, conn.send(envelope, message)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(refusal(at, &e)),
            Err(_) => {
                return Err(Failure::Retry(format!(
                    "{at}: no answer to the mail within {STEP_TIMEOUT:?}"
                )));
            }
        }
        // Delivered. QUIT without waiting for it: the job's success is
        // committed while the server says goodbye.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(QUIT_TIMEOUT, conn.quit()).await;
        });
        Ok(())
    }
}

/// A step before the mail transaction: whatever goes wrong (even a 5xx:
/// "no service", bad credentials) is the server's state or our
/// settings', not the mail's.
async fn step<T>(
    what: &str,
    at: &Relay,
    fut: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(STEP_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Retry(format!("{at}: {what}: {e}"))),
        Err(_) => Err(Failure::Retry(format!(
            "{at}: {what}: no answer within {STEP_TIMEOUT:?}"
        ))),
    }
}

/// A failed mail transaction (MAIL, RCPT, DATA).
fn refusal(at: &Relay, e: &lettre::transport::smtp::Error) -> Failure {
    let what = format!("{at}: {e}");
    match e.status().map(u16::from) {
        // "Authentication required" (530) or the like, late: our settings.
        Some(530 | 534 | 535) => Failure::Retry(what),
        // The server's 5xx about the message or its recipient ("no such
        // user", "rejected as spam") would be given to every retry.
        _ if e.is_permanent() => Failure::Refused(what),
        // 4xx, the connection dropped: may well work later. A client-side
        // error (non-ASCII without 8BITMIME) depends on the server too.
        _ => Failure::Retry(what),
    }
}
