//! Which notifications reach a person, and how: a preference per kind
//! (as the settings page groups them) and channel, with defaults for
//! everyone who never changed one.

use serde::{Deserialize, Serialize};

/// The kinds a person chooses for, each covering the notification kinds
/// stored (`friend_accepted` goes with friend requests; a mention in chat
/// with mentions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    FriendRequest,
    Comment,
    Like,
    Mention,
    Message,
}

/// Where a notification goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The list and badge in the app, and live over the socket.
    App,
    /// Web Push to each subscribed browser.
    Push,
    /// The email digest of what stayed unread.
    Email,
}

pub const GROUPS: [Group; 5] = [
    Group::FriendRequest,
    Group::Comment,
    Group::Like,
    Group::Mention,
    Group::Message,
];
pub const CHANNELS: [Channel; 3] = [Channel::App, Channel::Push, Channel::Email];

impl Group {
    pub fn as_str(self) -> &'static str {
        match self {
            Group::FriendRequest => "friend_request",
            Group::Comment => "comment",
            Group::Like => "like",
            Group::Mention => "mention",
            Group::Message => "message",
        }
    }

    pub fn parse(s: &str) -> Option<Group> {
        GROUPS.into_iter().find(|g| g.as_str() == s)
    }

    /// The group of a stored notification kind; `None` for kinds that only
    /// ever show in the app (a report resolved).
    pub fn of_kind(kind: &str) -> Option<Group> {
        match kind {
            "friend_request" | "friend_accepted" => Some(Group::FriendRequest),
            "comment" => Some(Group::Comment),
            "like" => Some(Group::Like),
            "mention" | "chat_mention" => Some(Group::Mention),
            "message" => Some(Group::Message),
            _ => None,
        }
    }
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::App => "app",
            Channel::Push => "push",
            Channel::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        CHANNELS.into_iter().find(|c| c.as_str() == s)
    }
}

/// What a person who never chose gets: everything in the app; a push for
/// everything but likes (the one kind that can come by the dozen); an
/// email only for what waits on them (messages, mentions, friend
/// requests), as Mastodon and Slack default.
pub fn default_on(group: Group, channel: Channel) -> bool {
    match channel {
        Channel::App => true,
        Channel::Push => group != Group::Like,
        Channel::Email => matches!(
            group,
            Group::Message | Group::Mention | Group::FriendRequest
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_kind_but_reports_has_a_group_and_names_round_trip() {
        for kind in [
            "friend_request",
            "friend_accepted",
            "comment",
            "like",
            "mention",
            "chat_mention",
            "message",
        ] {
            assert!(Group::of_kind(kind).is_some(), "{kind}");
        }
        assert_eq!(Group::of_kind("report_resolved"), None);
        for g in GROUPS {
            assert_eq!(Group::parse(g.as_str()), Some(g));
        }
        for c in CHANNELS {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        assert_eq!(Group::parse("likes"), None);
        assert_eq!(Channel::parse("sms"), None);
        assert!(!default_on(Group::Like, Channel::Push));
        assert!(default_on(Group::Message, Channel::Email));
    }
}
