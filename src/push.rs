//! Notifications that reach people away from the app: Web Push to each
//! browser they turned it on in, and an email digest of what stayed
//! unread, each by their preferences per kind and channel.
//!
//! Routing by presence: a stored notification queues one push job per
//! subscription ([`crate::store::push::route_tx`], in the transaction that
//! stored it). The job, on whichever node claims it, sends nothing when the
//! notification was read meanwhile, or when its user is connected on any
//! node (the socket already showed it); a chat message is pushed only
//! when still unread [`CHAT_PUSH_DELAY_MS`] after it came, connected or
//! not (a tab left open on another machine does not read it). Whatever
//! stays unread for `--digest-after-secs` goes into one digest mail.

pub mod routes;
pub mod send;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::jobs::job::{JobCtx, JobError, JobKind};
use crate::state::AppState;
use crate::store::push::{DropSubscription, PUSH_JOB, PushPayload, QueueChatPush, QueueDigests};
use kith_core::ids::Id;
use kith_core::notify_prefs::{Channel, Group};
use kith_core::webpush::{Keys, Vapid};

pub use crate::store::push::CHAT_PUSH_DELAY_MS;

/// The VAPID key pair every node signs with, created once and kept in the
/// database (as the resume and ticket keys are).
pub async fn vapid(
    writer: &crate::db::Writer,
    read: &sqlx::SqlitePool,
) -> anyhow::Result<Arc<Vapid>> {
    let pkcs8 = crate::db::setting_or_make(writer, read, "vapid_pkcs8", || {
        Vapid::generate().map_err(|e| anyhow::anyhow!("making the VAPID key: {e}"))
    })
    .await?;
    Ok(Arc::new(Vapid::from_pkcs8(&pkcs8).map_err(|e| {
        anyhow::anyhow!("the stored VAPID key: {e}")
    })?))
}

/// The contact a push service may write to about kith's pushes (RFC 8292
/// `sub`): the public address, or the mail sender's.
fn contact(state: &AppState) -> String {
    let c = &state.config;
    match (&c.community.public_url, &c.mail) {
        (Some(url), _) if url.starts_with("https://") => url.clone(),
        (_, Some(mail)) => {
            let addr = mail
                .from
                .rsplit_once('<')
                .map_or(mail.from.as_str(), |(_, a)| a.trim_end_matches('>'));
            format!("mailto:{}", addr.trim())
        }
        _ => "mailto:admin@localhost".to_string(),
    }
}

/// Delivers one notification to one browser.
pub struct PushJob {
    pub state: AppState,
}

#[async_trait]
impl JobKind for PushJob {
    fn name(&self) -> &'static str {
        PUSH_JOB
    }

    async fn run(&self, ctx: &JobCtx) -> Result<(), JobError> {
        let p: PushPayload = serde_json::from_str(&ctx.job.payload)
            .map_err(|e| JobError::Permanent(format!("payload: {e}")))?;
        let state = &self.state;
        let retry = |e: sqlx::Error| JobError::Retryable(e.to_string());
        let sub: Option<(i64, String, String, String)> = sqlx::query_as(
            "SELECT user_id, endpoint, p256dh, auth FROM push_subscriptions WHERE id = ?",
        )
        .bind(p.subscription.0)
        .fetch_optional(&state.read)
        .await
        .map_err(retry)?;
        // Turned off since: nothing to deliver to.
        let Some((user, endpoint, p256dh, auth)) = sub else {
            return Ok(());
        };
        let message = match (p.notification, p.conversation) {
            (Some(n), _) => match self
                .about_notification(&p, n, user)
                .await
                .map_err(|e| JobError::Retryable(e.to_string()))?
            {
                Some(m) => m,
                None => return Ok(()),
            },
            (None, Some(c)) => match self
                .about_message(&p, c, user, ctx.job.id)
                .await
                .map_err(retry)?
            {
                Some(m) => m,
                None => return Ok(()),
            },
            (None, None) => return Err(JobError::Permanent("a push about nothing".into())),
        };
        let keys = Keys::parse(&p256dh, &auth)
            .map_err(|e| JobError::Permanent(format!("stored keys: {e}")))?;
        let outcome = send::deliver(
            &state.push_vapid,
            &contact(state),
            &endpoint,
            &keys,
            &message,
            state.config.push_allow_private,
        )
        .await;
        match outcome {
            send::Outcome::Delivered => Ok(()),
            send::Outcome::Gone => {
                // The browser dropped the subscription: forget it.
                state
                    .writer
                    .run(DropSubscription { id: p.subscription })
                    .await
                    .map_err(|e| JobError::Retryable(e.to_string()))?;
                Ok(())
            }
            send::Outcome::Retry(why) => Err(JobError::Retryable(why)),
            send::Outcome::Refused(why) => Err(JobError::Permanent(why)),
        }
    }
}

impl PushJob {
    /// What to push for notification `n`, or nothing when it needs no
    /// push any more: read, or (its kind being in the app) shown on a
    /// connection on some node; a chat message once read that far.
    async fn about_notification(
        &self,
        p: &PushPayload,
        n: Id,
        user: i64,
    ) -> Result<Option<send::Message>, crate::db::DbError> {
        let state = &self.state;
        // Gone, or the browser moved to another account since: nothing.
        let row: Option<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT kind, subject_id, read_at FROM notifications WHERE id = ? AND user_id = ?",
        )
        .bind(n.0)
        .bind(user)
        .fetch_optional(&state.read)
        .await?;
        let Some((kind, subject, read_at)) = row else {
            return Ok(None);
        };
        if matches!(kind.as_str(), "message" | "chat_mention") {
            if read_past(state, subject.unwrap_or(0), user, p.seq).await? {
                return Ok(None);
            }
        } else {
            let app_on = match Group::of_kind(&kind) {
                Some(g) => prefs_on(state, Id(user), g, Channel::App).await?,
                None => true,
            };
            if app_on && (read_at.is_some() || state.is_online(Id(user))) {
                return Ok(None);
            }
        }
        Ok(crate::notify::by_id(&state.reader, n)?
            .map(|view| send::Message::of(&view, subject.map(Id))))
    }

    /// What to push for a message a connected member has not read.
    async fn about_message(
        &self,
        p: &PushPayload,
        conversation: Id,
        user: i64,
        job: Id,
    ) -> Result<Option<send::Message>, sqlx::Error> {
        let state = &self.state;
        if read_past(state, conversation.0, user, p.seq).await? {
            return Ok(None);
        }
        let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT (SELECT display_name FROM users WHERE id = ?3),
                    (SELECT substr(body, 1, 400) FROM messages
                     WHERE conversation_id = ?1 AND seq = ?2 AND unsent_at IS NULL)",
        )
        .bind(conversation.0)
        .bind(p.seq.unwrap_or(0))
        .bind(p.actor.map_or(0, |a| a.0))
        .fetch_optional(&state.read)
        .await?;
        let (actor, body) = row.unwrap_or((None, None));
        Ok(Some(send::Message::chat(
            job,
            conversation,
            actor.as_deref().unwrap_or("Someone"),
            body.as_deref(),
        )))
    }
}

/// Whether `user` has read conversation `conversation` up to `seq`.
async fn read_past(
    state: &AppState,
    conversation: i64,
    user: i64,
    seq: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let read: Option<i64> = sqlx::query_scalar(
        "SELECT last_read_seq FROM conversation_members WHERE conversation_id = ? AND user_id = ?",
    )
    .bind(conversation)
    .bind(user)
    .fetch_optional(&state.read)
    .await?;
    Ok(read.zip(seq).is_some_and(|(r, s)| r >= s))
}

/// After a message reached members live: a delayed push for `members`
/// ([`QueueChatPush`]), those of them with push subscriptions who were not
/// notified (offline members, and those named, got a notification, which
/// pushes by itself), in the background. Nothing runs for the common
/// message, whose members have no push subscription.
pub fn nudge_online(state: &AppState, conversation: Id, seq: i64, sender: Id, members: Vec<Id>) {
    if members.is_empty() {
        return;
    }
    let state2 = state.clone();
    state.tasks.spawn(async move {
        for user in members {
            let cmd = QueueChatPush {
                user,
                conversation,
                seq,
                actor: sender,
            };
            if let Err(e) = state2.writer.run(cmd).await {
                tracing::warn!(error = %e, "queueing a chat push");
            }
        }
    });
}

async fn prefs_on(
    state: &AppState,
    user: Id,
    group: Group,
    channel: Channel,
) -> Result<bool, sqlx::Error> {
    let chosen: Option<bool> = sqlx::query_scalar(crate::store::push::CHOSEN)
        .bind(user.0)
        .bind(group.as_str())
        .bind(channel.as_str())
        .fetch_optional(&state.read)
        .await?;
    Ok(chosen.unwrap_or_else(|| kith_core::notify_prefs::default_on(group, channel)))
}

/// People whose digests one pass queues at most: one short transaction.
const DIGEST_BATCH: i64 = 100;

/// Queues the digests that are due, now and then, on every node that can
/// send mail (the command marks what it mails in its transaction: two
/// nodes never mail the same notification).
pub async fn send_digests(state: AppState) {
    let after = state.config.digest_after;
    // A quarter of the delay, between 1 s and a minute: a digest leaves at
    // most a quarter late.
    let every = (after / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.tasks.stopping() => return,
        }
        let cmd = QueueDigests {
            older_than: kith_core::ids::now_ms() - after.as_millis() as i64,
            users: DIGEST_BATCH,
            base_url: Some(crate::auth::recovery::public_url(&state)),
        };
        match state.writer.run(cmd).await {
            Ok(0) => {}
            Ok(_) => state.wake_workers.notify_waiters(),
            Err(e) => tracing::warn!(error = %e, "queueing email digests"),
        }
    }
}
