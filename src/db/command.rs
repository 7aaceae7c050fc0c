//! Every write as one serializable value: what a replica forwards to the
//! primary, and what the primary runs for it.
//!
//! Each command is a type of its own in [`crate::store`], with its own
//! reply type; this union only carries them across the cluster link. A
//! forwarded command's reply crosses as JSON and is read back as the
//! command's reply type on the node that sent it.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::store::audit::Audited;
use crate::store::{
    CmdError, Command, accounts, attempts, blocks, chat, chat_events, chat_groups, comments,
    community, friends, jobs, links, media, moderation, mutes, nodes, notifications, posts,
    profile, push, reports, sessions, settings, tags, tokens, users,
};

/// Declares [`AnyCommand`] with one variant per command type, its `From`
/// conversions, and its dispatch.
macro_rules! any_command {
    ($($(#[$attr:meta])* $name:ident($ty:ty),)*) => {
        /// Any command, as it crosses the cluster link.
        #[derive(Clone, Debug, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case", tag = "cmd", content = "args")]
        pub enum AnyCommand {
            $($(#[$attr])* $name($ty),)*
        }

        $(
            $(#[$attr])*
            impl From<$ty> for AnyCommand {
                fn from(c: $ty) -> Self {
                    AnyCommand::$name(c)
                }
            }
        )*

        /// Runs the command it holds; the reply as JSON, for the node that
        /// forwarded it.
        impl Command for AnyCommand {
            type Reply = serde_json::Value;
            fn apply(self, conn: &Connection) -> Result<serde_json::Value, CmdError> {
                match self {
                    $($(#[$attr])* AnyCommand::$name(c) => encode(c.apply(conn)?),)*
                }
            }
        }
    };
}

fn encode<T: Serialize>(reply: T) -> Result<serde_json::Value, CmdError> {
    serde_json::to_value(reply).map_err(|e| CmdError::Internal(format!("encoding a reply: {e}")))
}

any_command! {
    CreateUser(users::CreateUser),
    Ban(moderation::Ban),
    SetAdmin(moderation::SetAdmin),
    SaveSession(sessions::SaveSession),
    DeleteSession(sessions::DeleteSession),
    EndUserSessions(sessions::EndUserSessions),
    DeleteExpiredSessions(sessions::DeleteExpiredSessions),
    TakeAttempt(attempts::TakeAttempt),
    SignedIn(attempts::SignedIn),
    PruneAttempts(attempts::PruneAttempts),
    DeleteAccount(accounts::DeleteAccount),
    SendRequest(friends::SendRequest),
    AnswerRequest(friends::Answer),
    CancelRequest(friends::Cancel),
    Unfriend(friends::Unfriend),
    Block(blocks::Block),
    Unblock(blocks::Unblock),
    CreatePost(posts::CreatePost),
    DeletePost(posts::DeletePost),
    Like(posts::Like),
    Unlike(posts::Unlike),
    CreateComment(comments::CreateComment),
    EditPost(posts::EditPost),
    SaveCard(links::SaveCard),
    BackfillTags(tags::BackfillTags),
    EditComment(comments::EditComment),
    DeleteComment(comments::DeleteComment),
    CreateConversation(chat::CreateConversation),
    SendMessage(chat::SendMessage),
    MarkRead(chat::MarkRead),
    EditMessage(chat_events::EditMessage),
    Unsend(chat_events::Unsend),
    React(chat_events::React),
    AddMembers(chat_groups::AddMembers),
    RemoveMember(chat_groups::RemoveMember),
    SetRole(chat_groups::SetRole),
    Rename(chat_groups::Rename),
    SetMuted(chat_groups::SetMuted),
    Notify(notifications::Notify),
    Subscribe(push::Subscribe),
    Unsubscribe(push::Unsubscribe),
    DropSubscription(push::DropSubscription),
    SetPrefs(push::SetPrefs),
    QueueDigests(push::QueueDigests),
    QueueChatPush(push::QueueChatPush),
    MarkNotificationsRead(notifications::MarkNotificationsRead),
    Enqueue(jobs::Enqueue),
    Claim(jobs::Claim),
    Heartbeat(jobs::Heartbeat),
    Succeed(jobs::Succeed),
    Fail(jobs::Fail),
    Release(jobs::Release),
    CancelJob(jobs::Cancel),
    RetryJob(jobs::Retry),
    CreateMedia(media::CreateMedia),
    MediaProcessing(media::MediaProcessing),
    MediaReady(media::MediaReady),
    MediaFailed(media::MediaFailed),
    CreateUpload(media::CreateUpload),
    DeleteUpload(media::DeleteUpload),
    ExpireUploads(media::ExpireUploads),
    SweepUnattached(media::SweepUnattached),
    ClearAvatar(media::ClearAvatar),
    UpsertNode(nodes::UpsertNode),
    PruneNodes(nodes::PruneNodes),
    InitSetting(settings::InitSetting),
    SetSetting(settings::SetSetting),
    EndOtherSessions(sessions::EndOtherSessions),
    EndSession(sessions::EndSession),
    UpdateProfile(profile::UpdateProfile),
    SetPassword(profile::SetPassword),
    RequestEmail(tokens::RequestEmail),
    VerifyEmail(tokens::VerifyEmail),
    RemoveEmail(tokens::RemoveEmail),
    IssueReset(tokens::IssueReset),
    ConfirmReset(tokens::ConfirmReset),
    PruneTokens(tokens::PruneTokens),
    SetMute(mutes::SetMute),
    CreateInvite(community::CreateInvite),
    RevokeInvite(community::RevokeInvite),
    CreateReport(reports::CreateReport),
    AdminBan(Audited<moderation::Ban>),
    AdminSetAdmin(Audited<moderation::SetAdmin>),
    AdminResetLink(Audited<tokens::IssueReset>),
    AdminApprove(Audited<accounts::Approve>),
    AdminReject(Audited<accounts::Reject>),
    AdminInvite(Audited<community::AdminInvite<community::CreateInvite>>),
    AdminResolveReport(Audited<reports::ResolveReport>),
    AdminCancelJob(Audited<jobs::Cancel>),
    AdminRetryJob(Audited<jobs::Retry>),
    Keyed(super::keyed::Keyed<AnyCommand>),
    PruneKeys(super::keyed::PruneKeys),
    #[cfg(test)]
    FailAfterWriting(super::writer::tests::FailAfterWriting),
}
