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
    },
    Sync {
        conversation_id: Id,
        after_seq: i64,
    },
    Typing {
        conversation_id: Id,
    },
    Read {
        conversation_id: Id,
        seq: i64,
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
    },
    Ack {
        conversation_id: Id,
        client_msg_id: String,
        seq: i64,
        message_id: Id,
    },
    /// Boxed: a message with its media is the largest frame by far.
    Message(Box<MessageFrame>),
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
        Some("send" | "sync" | "typing" | "read" | "ping")
    );
    if !known {
        return Err(ServerFrame::error(
            ErrorCode::BadFrame,
            "unknown or missing frame type",
        ));
    }
    let frame: ClientFrame = serde_json::from_value(value)
        .map_err(|e| ServerFrame::error(ErrorCode::Invalid, e.to_string()))?;
    if let ClientFrame::Send {
        client_msg_id,
        body,
        media,
        ..
    } = &frame
    {
        if client_msg_id.is_empty() || client_msg_id.len() > MAX_CLIENT_MSG_ID {
            return Err(ServerFrame::error(
                ErrorCode::Invalid,
                format!("client_msg_id must be 1 to {MAX_CLIENT_MSG_ID} bytes"),
            ));
        }
        // A photo may be the whole message.
        let empty = body.trim().is_empty() && media.is_empty();
        if empty || body.chars().count() > MAX_BODY_CHARS {
            return Err(ServerFrame::error(
                ErrorCode::Invalid,
                format!("body must be 1 to {MAX_BODY_CHARS} characters, or empty with media"),
            ));
        }
        check_attachments(media).map_err(|e| ServerFrame::error(ErrorCode::Invalid, e))?;
    }
    Ok(frame)
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
                media: vec![]
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
}
