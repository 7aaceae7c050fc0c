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
//! copy. The window is one write through the writer, the job's success
//! (milliseconds; a second or so behind a long queue of writes on a
//! loaded node); the QUIT that follows the 250 is not waited for
//! (`smtp::Smtp::deliver`).
//! No protocol closes it: the server's acceptance and our commit are two
//! systems. The same window exists on the server's side (it stored the
//! message, then the connection dropped before its 250 arrived). Both
//! are why the Message-ID is fixed when the mail is queued, not made per
//! attempt: a duplicate carries the same Message-ID, which receiving
//! systems (and mail clients) use to drop or fold copies of one message.

mod message;
mod relay;
mod smtp;

use async_trait::async_trait;
use lettre::message::Mailbox;

use crate::config::MailConfig;
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::store::mail::{KIND, Mail};
use relay::Relay;
use smtp::{Failure, Smtp};

/// Sends queued mail through the configured SMTP server.
pub struct MailJob {
    from: Mailbox,
    /// Built once, not per mail.
    smtp: Smtp,
}

impl MailJob {
    /// Reads `--smtp-url` and `--mail-from`; the error names the setting
    /// at fault and what is wrong with it.
    pub fn new(config: &MailConfig) -> anyhow::Result<MailJob> {
        let smtp = Relay::parse(&config.smtp_url)
            .and_then(Smtp::new)
            .map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?;
        let from: Mailbox = config.from.trim().parse().map_err(|e| {
            anyhow::anyhow!(
                "--mail-from {:?} is not an address (`name <user@example.org>` or `user@example.org`): {e}",
                config.from
            )
        })?;
        Ok(MailJob { from, smtp })
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
        let message = message::build(&self.from, &mail).map_err(JobError::Permanent)?;
        if ctx.stopped() {
            return Err(JobError::Stopped);
        }
        // A stop is heeded up to the start of the mail transaction, not
        // after: cutting it once the DATA went out cannot take the message
        // back, only turn a likely delivery into a duplicate on the retry.
        // It is bounded anyway (smtp::STEP_TIMEOUT).
        let sent = self
            .smtp
            .deliver(message.envelope(), &message.formatted(), || ctx.stopped())
            .await;
        match sent {
            Ok(()) => {
                tracing::info!(job = %ctx.job.id, relay = %self.smtp.relay(), "mail sent");
                Ok(())
            }
            Err(Failure::Retry(e)) => Err(JobError::Retryable(format!("sending through {e}"))),
            Err(Failure::Refused(e)) => Err(JobError::Permanent(format!("refused by {e}"))),
            Err(Failure::Stopped) => Err(JobError::Stopped),
        }
    }
}
