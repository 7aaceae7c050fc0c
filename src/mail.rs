//! Sending mail: the `mail` job kind, which delivers a queued
//! [`Mail`](crate::store::mail::Mail) over SMTP.
//!
//! # Delivery: never lost, sent twice only in one short window
//!
//! A mail is queued in the transaction that decided to send it
//! (`store::mail::queue_tx`), so it exists exactly when that decision
//! committed. The job succeeds only once the server answered 250 to the
//! end of DATA, the moment it took responsibility for the message
//! (RFC 5321, 4.1.1.4); any other end (a refusal, a timeout, the node
//! killed) leaves the job to be retried, so the mail is never lost while
//! attempts remain (12, about two hours of backoff).
//!
//! A node killed before that 250 leaves an SMTP transaction the server
//! never accepted: it discards it when the connection drops, and the
//! retry (on whichever node reclaims the lease) is the only copy.
//!
//! The one window left is the node dying after the server's 250 and
//! before the job's success is committed: the retry then sends a second
//! copy. The window is the QUIT round trip lettre makes after the 250
//! (one network round trip, at most [`relay::COMMAND_TIMEOUT`] against a server
//! that hangs on QUIT) plus one write through the writer (milliseconds).
//! No protocol closes it: the server's acceptance and our commit are two
//! systems. The same window exists on the server's side (it stored the
//! message, then the connection dropped before its 250 arrived). Both
//! are why the Message-ID is fixed when the mail is queued, not made per
//! attempt: a duplicate carries the same Message-ID, which receiving
//! systems (and mail clients) use to drop or fold copies of one message.

mod message;
mod relay;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::MailConfig;
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::store::mail::{KIND, Mail};
use relay::Relay;

/// Sends queued mail through the configured SMTP server.
pub struct MailJob {
    from: Mailbox,
    relay: Relay,
    /// Built once: the TLS settings (Mozilla's roots) are parsed once,
    /// not per mail.
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl MailJob {
    /// Reads `--smtp-url` and `--mail-from`; the error names the setting
    /// at fault and what is wrong with it.
    pub fn new(config: &MailConfig) -> anyhow::Result<MailJob> {
        let relay =
            Relay::parse(&config.smtp_url).map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?;
        let transport = relay
            .transport()
            .map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?;
        let from: Mailbox = config.from.trim().parse().map_err(|e| {
            anyhow::anyhow!(
                "--mail-from {:?} is not an address (`name <user@example.org>` or `user@example.org`): {e}",
                config.from
            )
        })?;
        Ok(MailJob {
            from,
            relay,
            transport,
        })
    }

    /// Sends one mail.
    async fn send(&self, mail: &Mail) -> Result<(), JobError> {
        let message = message::build(&self.from, mail).map_err(JobError::Permanent)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(classify(&self.relay, &e)),
        }
    }
}

/// Whether a failed attempt is worth another one.
fn classify(relay: &Relay, e: &lettre::transport::smtp::Error) -> JobError {
    let what = format!("sending through {relay}: {e}");
    let code = e.status().map(u16::from);
    match code {
        // The server's 5xx about the message or its recipient ("no such
        // user", "rejected as spam") will be given to every retry.
        // Except our own credentials (530 authentication required, 534
        // mechanism too weak, 535 rejected): fixing the settings should
        // deliver what is queued, not have killed it.
        Some(530 | 534 | 535) => JobError::Retryable(what),
        _ if e.is_permanent() => JobError::Permanent(what),
        // 4xx, connection refused or dropped, timeouts, TLS: the server or
        // the road to it, which may well be back for the next attempt.
        _ => JobError::Retryable(what),
    }
}

#[async_trait]
impl JobKind for MailJob {
    fn name(&self) -> &'static str {
        KIND
    }

    async fn run(&self, ctx: &JobCtx) -> Result<(), JobError> {
        let mail: Mail = serde_json::from_str(&ctx.job.payload)
            .map_err(|e| JobError::Permanent(format!("not a mail: {e}")))?;
        // Once a send has started it is not abandoned on a stop: cutting
        // it after the DATA went out cannot take the message back, only
        // turn a likely delivery into a duplicate on the retry. It is
        // bounded anyway, by COMMAND_TIMEOUT per command.
        if ctx.stopped() {
            return Err(JobError::Stopped);
        }
        self.send(&mail).await?;
        tracing::info!(job = %ctx.job.id, relay = %self.relay, "mail sent");
        Ok(())
    }
}
