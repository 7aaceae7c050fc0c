//! The realtime protocol: JSON frames, the same on every transport.
//!
//! Pure types and parsing; no I/O. Version 1.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::Id;
use crate::media::{Attachment, Avatar, MediaView, check_attachments};

pub const VERSION: u32 = 1;
/// The largest frame a client may send (bytes). WebSocket closes with 1009
/// above it; WebTransport closes the stream.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The longest message body (characters).
pub const MAX_BODY_CHARS: usize = 4_000;
/// The longest client message id (bytes).
pub const MAX_CLIENT_MSG_ID: usize = 64;
/// The reactions a message may get: a fixed set, as WhatsApp's, so a
/// thread stays readable and a count means the same to everyone. Clients
/// show them in this order.
pub const REACTIONS: [&str; 8] = ["👍", "❤️", "😂", "😮", "😢", "🙏", "🎉", "🔥"];
/// Posts one connection may watch at a time (src/live.rs says why).
pub const MAX_WATCHED: usize = 50;
/// The longest quote of a replied-to message (characters).
pub const REPLY_EXCERPT_CHARS: usize = 100;

/// What a client sends.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Send {
        conversation_id: Id,
        client_msg_id: String,
        #[serde(default)]
        body: String,
        /// Photos and videos, uploaded first (docs/media.md).
        #[serde(default)]
        media: Vec<Attachment>,
        /// The seq of the message this one answers.
        #[serde(default)]
        reply_to: Option<i64>,
    },
    /// Replaces the body of one of your messages.
    Edit {
        conversation_id: Id,
        client_msg_id: String,
        seq: i64,
        body: String,
    },
    /// Takes one of your messages back, for everyone.
    Unsend {
        conversation_id: Id,
        client_msg_id: String,
        seq: i64,
    },
    /// Adds (or with `remove`, takes back) your reaction to a message.
    React {
        conversation_id: Id,
        client_msg_id: String,
        seq: i64,
        emoji: String,
        #[serde(default)]
        remove: bool,
    },
    Sync {
        conversation_id: Id,
        after_seq: i64,
    },
    /// Everything missed since the resume token, in every conversation.
    Resume {
        token: String,
    },
    Typing {
        conversation_id: Id,
    },
    Read {
        conversation_id: Id,
        seq: i64,
    },
    /// What is on screen: live counts and comments of these posts, and
    /// with `feed`, word of friends' new posts. Replaces the last `watch`.
    Watch {
        posts: Vec<Id>,
        #[serde(default)]
        feed: bool,
    },
    Ping,
}

/// What the server sends.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection.
    Hello {
        version: u32,
        user: String,
        /// Where this connection starts: a client with no token of its own
        /// keeps it for its next `resume`.
        resume_token: String,
    },
    Ack {
        conversation_id: Id,
        client_msg_id: String,
        seq: i64,
        message_id: Id,
    },
    /// Boxed: a message with its media is the largest frame by far.
    Message(Box<MessageFrame>),
    /// A change to a message or to the conversation, in the same sequence
    /// as the messages.
    Event(Box<EventView>),
    Presence {
        user: String,
        status: Presence,
    },
    Typing {
        conversation_id: Id,
        user: String,
    },
    Read {
        conversation_id: Id,
        user: String,
        seq: i64,
    },
    Notification(serde_json::Value),
    /// The posts of a `watch` now watched (the others were refused).
    Watching {
        posts: Vec<Id>,
    },
    /// A watched post's counts changed.
    PostCounts {
        post_id: Id,
        like_count: i64,
        comment_count: i64,
    },
    /// A new or edited comment on a watched post, as
    /// `GET /api/posts/{id}/comments` lists it.
    Comment {
        post_id: Id,
        comment: serde_json::Value,
    },
    CommentRemoved {
        post_id: Id,
        comment_id: Id,
    },
    /// A watched post was edited or deleted: read it again.
    PostChanged {
        post_id: Id,
    },
    /// A friend posted something for your feed.
    FeedPost {
        post_id: Id,
        author: String,
    },
    /// Your upload's state changed or its transcode progressed: the media
    /// object as `GET /api/media/{id}` shows it.
    Media(serde_json::Value),
    /// `sync` finished: every message up to `last_seq` has been sent,
    /// and `read` says how far each member has read, so that "Seen" is
    /// right on a device that missed the live `read` frames.
    Synced {
        conversation_id: Id,
        last_seq: i64,
        read: Vec<ReadPosition>,
    },
    /// A `resume` is complete: every item and notification missed was
    /// sent before it. With `full`, the token was too old or too much was
    /// missed: load conversations afresh instead. `token` is the new
    /// resume point.
    Resumed {
        token: String,
        full: bool,
        /// How many items and notifications were sent.
        replayed: usize,
    },
    /// A newer resume point: everything before it has reached this
    /// connection.
    Checkpoint {
        token: String,
    },
    Pong,
    Error {
        code: ErrorCode,
        message: String,
    },
}

/// A message as clients see it (REST and realtime alike).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct MessageView {
    pub conversation_id: Id,
    pub seq: i64,
    pub message_id: Id,
    /// The sender's username; null once their account is deleted.
    pub sender: Option<String>,
    /// The sender's picture (or generated default); null with `sender`.
    pub sender_avatar: Option<Avatar>,
    pub body: String,
    pub client_msg_id: String,
    pub created_at: String,
    /// Attached photos and videos, in order, with their alt text.
    pub media: Vec<MediaView>,
    /// The message this one answers, quoted as it reads now.
    pub reply_to: Option<ReplyTo>,
    /// When the body was last edited.
    pub edited_at: Option<String>,
    /// Taken back by its sender: body and media are gone for everyone.
    pub unsent: bool,
    /// Who reacted with what, in the order of [`REACTIONS`].
    pub reactions: Vec<ReactionView>,
    /// The members named with `@` in the body.
    pub mentions: Vec<String>,
}

/// The quoted message a reply answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReplyTo {
    pub seq: i64,
    pub sender: Option<String>,
    /// At most [`REPLY_EXCERPT_CHARS`] of its body, on one line; empty once
    /// it is unsent.
    pub excerpt: String,
    pub unsent: bool,
}

/// One emoji's reactions to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReactionView {
    pub emoji: String,
    /// Usernames, in the order they reacted.
    pub users: Vec<String>,
}

/// A change in a conversation: to one message (`target_seq`) or to the
/// group. It has its own seq, so `sync` replays it after what it changes.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct EventView {
    pub conversation_id: Id,
    pub seq: i64,
    pub event_id: Id,
    /// Who made the change; null once their account is deleted.
    pub actor: Option<String>,
    pub created_at: String,
    pub client_msg_id: String,
    #[serde(flatten)]
    pub change: Change,
}

/// What an event changed. Clients ignore kinds they do not know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Edit {
        target_seq: i64,
        /// The new body; empty once the message is unsent.
        body: String,
        mentions: Vec<String>,
        edited_at: String,
    },
    Unsend {
        target_seq: i64,
    },
    React {
        target_seq: i64,
        emoji: String,
    },
    Unreact {
        target_seq: i64,
        emoji: String,
    },
    MemberAdded {
        user: String,
        role: Role,
    },
    MemberRemoved {
        user: String,
    },
    MemberLeft {
        user: String,
    },
    Renamed {
        title: String,
    },
    RoleChanged {
        user: String,
        role: Role,
    },
}

/// A member's standing in a group. The creator is its owner; the owner
/// names admins; owner and admins add, remove and rename.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// Whether this member may add, remove and rename.
    pub fn manages(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// One item of a conversation's sequence, as `GET …/messages` lists it:
/// the same JSON as the `message` and `event` frames.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Item {
    Message(MessageView),
    Event(EventView),
}

impl Item {
    pub fn seq(&self) -> i64 {
        match self {
            Item::Message(m) => m.seq,
            Item::Event(e) => e.seq,
        }
    }

    /// The frame that carries it.
    pub fn into_frame(self) -> ServerFrame {
        match self {
            Item::Message(m) => ServerFrame::Message(Box::new(m)),
            Item::Event(e) => ServerFrame::Event(Box::new(e)),
        }
    }
}

/// How far one member of a conversation has read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReadPosition {
    /// The member's username.
    pub user: String,
    /// The last seq they have read (0: none).
    pub seq: i64,
}

/// A message as the `message` frame carries it.
pub type MessageFrame = MessageView;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Offline,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a frame of this protocol.
    BadFrame,
    /// A frame of a known type with a bad field.
    Invalid,
    /// The conversation does not exist or you are not a member.
    NotFound,
    Forbidden,
    RateLimited,
    /// The server could not do it now; retry.
    Unavailable,
    /// The write reached the primary but its answer did not come back: it
    /// may have been applied. A chat message is resent with the same
    /// `client_msg_id`, which the server recognises.
    OutcomeUnknown,
    Internal,
}

impl ServerFrame {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error {
            code,
            message: message.into(),
        }
    }

    /// Serialized once, shared by every recipient.
    pub fn encode(&self) -> std::sync::Arc<str> {
        serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"type":"error","code":"internal","message":"encoding"}"#.into())
            .into()
    }
}

/// Parses a client frame, telling a bad frame (not JSON, unknown type) from
/// a frame with invalid fields.
pub fn parse(text: &str) -> Result<ClientFrame, ServerFrame> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(ServerFrame::error(ErrorCode::BadFrame, "frame too large"));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ServerFrame::error(ErrorCode::BadFrame, format!("not JSON: {e}")))?;
    let known = matches!(
        value.get("type").and_then(|t| t.as_str()),
        Some(
            "send"
                | "edit"
                | "unsend"
                | "react"
                | "sync"
                | "resume"
                | "typing"
                | "read"
                | "watch"
                | "ping"
        )
    );
    if !known {
        return Err(ServerFrame::error(
            ErrorCode::BadFrame,
            "unknown or missing frame type",
        ));
    }
    let frame: ClientFrame = serde_json::from_value(value)
        .map_err(|e| ServerFrame::error(ErrorCode::Invalid, e.to_string()))?;
    check(&frame)?;
    Ok(frame)
}

fn invalid(m: impl Into<String>) -> ServerFrame {
    ServerFrame::error(ErrorCode::Invalid, m)
}

fn check_client_msg_id(id: &str) -> Result<(), ServerFrame> {
    if id.is_empty() || id.len() > MAX_CLIENT_MSG_ID {
        return Err(invalid(format!(
            "client_msg_id must be 1 to {MAX_CLIENT_MSG_ID} bytes"
        )));
    }
    Ok(())
}

fn check_seq(seq: i64) -> Result<(), ServerFrame> {
    if seq < 1 {
        return Err(invalid("seq must be at least 1"));
    }
    Ok(())
}

/// The field rules of each frame that writes.
fn check(frame: &ClientFrame) -> Result<(), ServerFrame> {
    match frame {
        ClientFrame::Send {
            client_msg_id,
            body,
            media,
            reply_to,
            ..
        } => {
            check_client_msg_id(client_msg_id)?;
            // A photo may be the whole message.
            let empty = body.trim().is_empty() && media.is_empty();
            if empty || body.chars().count() > MAX_BODY_CHARS {
                return Err(invalid(format!(
                    "body must be 1 to {MAX_BODY_CHARS} characters, or empty with media"
                )));
            }
            if let Some(r) = reply_to {
                check_seq(*r)?;
            }
            check_attachments(media).map_err(invalid)
        }
        ClientFrame::Edit {
            client_msg_id,
            seq,
            body,
            ..
        } => {
            check_client_msg_id(client_msg_id)?;
            check_seq(*seq)?;
            if body.trim().is_empty() || body.chars().count() > MAX_BODY_CHARS {
                return Err(invalid(format!(
                    "body must be 1 to {MAX_BODY_CHARS} characters"
                )));
            }
            Ok(())
        }
        ClientFrame::Unsend {
            client_msg_id, seq, ..
        } => {
            check_client_msg_id(client_msg_id)?;
            check_seq(*seq)
        }
        ClientFrame::React {
            client_msg_id,
            seq,
            emoji,
            ..
        } => {
            check_client_msg_id(client_msg_id)?;
            check_seq(*seq)?;
            if !REACTIONS.contains(&emoji.as_str()) {
                return Err(invalid(format!(
                    "emoji must be one of {}",
                    REACTIONS.join(" ")
                )));
            }
            Ok(())
        }
        ClientFrame::Resume { token } => {
            if token.len() > 200 {
                return Err(invalid("resume token too long"));
            }
            Ok(())
        }
        ClientFrame::Watch { posts, .. } => {
            if posts.len() > MAX_WATCHED {
                return Err(invalid(format!(
                    "watch at most {MAX_WATCHED} posts at a time"
                )));
            }
            Ok(())
        }
        ClientFrame::Sync { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::Read { .. }
        | ClientFrame::Ping => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_frame() {
        let id = Id(42).to_string();
        let f = parse(&format!(
            r#"{{"type":"send","conversation_id":"{id}","client_msg_id":"c1","body":"hi"}}"#
        ));
        assert_eq!(
            f,
            Ok(ClientFrame::Send {
                conversation_id: Id(42),
                client_msg_id: "c1".into(),
                body: "hi".into(),
                media: vec![],
                reply_to: None,
            })
        );
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(ClientFrame::Ping));
        let f = parse(&format!(
            r#"{{"type":"sync","conversation_id":"{id}","after_seq":3}}"#
        ));
        assert_eq!(
            f,
            Ok(ClientFrame::Sync {
                conversation_id: Id(42),
                after_seq: 3
            })
        );
    }

    fn code(r: Result<ClientFrame, ServerFrame>) -> Option<ErrorCode> {
        match r {
            Err(ServerFrame::Error { code, .. }) => Some(code),
            _ => None,
        }
    }

    #[test]
    fn tells_bad_frames_from_invalid_ones() {
        assert_eq!(code(parse("not json")), Some(ErrorCode::BadFrame));
        assert_eq!(
            code(parse(r#"{"type":"dance"}"#)),
            Some(ErrorCode::BadFrame)
        );
        assert_eq!(code(parse(r#"[1,2]"#)), Some(ErrorCode::BadFrame));
        assert_eq!(code(parse(r#"{"type":"sync"}"#)), Some(ErrorCode::Invalid));
        assert_eq!(
            code(parse(
                r#"{"type":"sync","conversation_id":"!!","after_seq":1}"#
            )),
            Some(ErrorCode::Invalid)
        );
        let long = "x".repeat(MAX_BODY_CHARS + 1);
        let f = format!(
            r#"{{"type":"send","conversation_id":"1","client_msg_id":"a","body":"{long}"}}"#
        );
        assert_eq!(code(parse(&f)), Some(ErrorCode::Invalid));
        let f = r#"{"type":"send","conversation_id":"1","client_msg_id":"","body":"x"}"#;
        assert_eq!(code(parse(f)), Some(ErrorCode::Invalid));
    }

    #[test]
    fn checks_the_fields_of_edits_unsends_and_reactions() {
        let f =
            r#"{"type":"edit","conversation_id":"1","client_msg_id":"e1","seq":3,"body":"fixed"}"#;
        assert!(matches!(parse(f), Ok(ClientFrame::Edit { seq: 3, .. })));
        let f = r#"{"type":"edit","conversation_id":"1","client_msg_id":"e1","seq":3,"body":" "}"#;
        assert_eq!(code(parse(f)), Some(ErrorCode::Invalid), "an empty edit");
        let f = r#"{"type":"unsend","conversation_id":"1","client_msg_id":"u1","seq":0}"#;
        assert_eq!(code(parse(f)), Some(ErrorCode::Invalid), "seq 0");
        let f =
            r#"{"type":"react","conversation_id":"1","client_msg_id":"r1","seq":2,"emoji":"🔥"}"#;
        assert!(matches!(
            parse(f),
            Ok(ClientFrame::React { remove: false, .. })
        ));
        let f =
            r#"{"type":"react","conversation_id":"1","client_msg_id":"r1","seq":2,"emoji":"💩"}"#;
        assert_eq!(code(parse(f)), Some(ErrorCode::Invalid), "outside the set");
        let f =
            r#"{"type":"send","conversation_id":"1","client_msg_id":"s","body":"x","reply_to":-1}"#;
        assert_eq!(code(parse(f)), Some(ErrorCode::Invalid), "a bad reply seq");
    }

    #[test]
    fn a_watch_is_bounded() {
        let f = r#"{"type":"watch","posts":["1","2"],"feed":true}"#;
        assert!(matches!(
            parse(f),
            Ok(ClientFrame::Watch { feed: true, .. })
        ));
        let many: Vec<String> = (0..=MAX_WATCHED).map(|i| format!("\"{i}\"")).collect();
        let f = format!(r#"{{"type":"watch","posts":[{}]}}"#, many.join(","));
        assert_eq!(code(parse(&f)), Some(ErrorCode::Invalid));
    }

    #[test]
    fn items_carry_their_frame_type() {
        let e = Item::Event(EventView {
            conversation_id: Id(1),
            seq: 4,
            event_id: Id(9),
            actor: Some("ann".into()),
            created_at: "t".into(),
            client_msg_id: "c".into(),
            change: Change::React {
                target_seq: 2,
                emoji: "🎉".into(),
            },
        });
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["type"], "event");
        assert_eq!(v["kind"], "react");
        assert_eq!(v["target_seq"], 2);
        let frame = serde_json::to_value(e.into_frame()).expect("json");
        assert_eq!(frame, v, "a listed item reads as its frame");
    }
}
