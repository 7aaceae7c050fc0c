//! Sending mail: the `mail` job kind, which delivers a queued
//! [`Mail`](crate::store::mail::Mail) over SMTP.

use async_trait::async_trait;

use crate::config::MailConfig;
use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::store::mail::KIND;

/// Sends queued mail through the configured SMTP server.
pub struct MailJob {
    pub config: MailConfig,
}

#[async_trait]
impl JobKind for MailJob {
    fn name(&self) -> &'static str {
        KIND
    }

    async fn run(&self, _ctx: &JobCtx) -> Result<(), JobError> {
        let _ = &self.config;
        Err(JobError::Retryable("mail is not sent yet".into()))
    }
}
