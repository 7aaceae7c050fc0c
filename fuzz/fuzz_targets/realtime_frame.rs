//! Client frames of the realtime protocol, as each transport hands them to
//! `kith_core::protocol::parse`:
//!
//! - WebSocket (`/ws`): a text message, which is UTF-8, parsed whole.
//! - WebTransport stream (`/wt`): newline-delimited; each complete line
//!   that is not blank is parsed when it is UTF-8 (otherwise it is answered
//!   as binary). Lines over `MAX_FRAME_BYTES` close the stream unparsed.
//! - WebTransport datagram: UTF-8 JSON whose `type` is `typing`, parsed
//!   whole; any other datagram is dropped.
//!
//! `parse` must never panic, and its answer must hold to the protocol: an
//! accepted `send` has a client message id and body within their limits,
//! and a refusal is an `error` frame coded `bad_frame` or `invalid` that
//! encodes.
#![no_main]

use kith_core::protocol::{
    self, ClientFrame, ErrorCode, MAX_BODY_CHARS, MAX_CLIENT_MSG_ID, MAX_FRAME_BYTES, ServerFrame,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // WebSocket text message.
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }

    // WebTransport stream: only newline-terminated lines are frames; what
    // follows the last newline is an unfinished frame.
    let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    lines.pop();
    for line in lines {
        if line.len() > MAX_FRAME_BYTES || line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Ok(text) = std::str::from_utf8(line) {
            check(text);
        }
    }

    // WebTransport datagram.
    if let Ok(text) = std::str::from_utf8(data)
        && serde_json::from_str::<serde_json::Value>(text).is_ok_and(|v| v["type"] == "typing")
    {
        check(text);
    }
});

fn check(text: &str) {
    match protocol::parse(text) {
        Ok(ClientFrame::Send {
            client_msg_id,
            body,
            media,
            ..
        }) => {
            assert!(!client_msg_id.is_empty() && client_msg_id.len() <= MAX_CLIENT_MSG_ID);
            // A message is text, media, or both.
            assert!(!body.trim().is_empty() || !media.is_empty());
            assert!(body.chars().count() <= MAX_BODY_CHARS);
            assert!(media.len() <= kith_core::media::MAX_ITEMS);
        }
        Ok(_) => {}
        Err(frame) => {
            assert!(
                matches!(
                    frame,
                    ServerFrame::Error {
                        code: ErrorCode::BadFrame | ErrorCode::Invalid,
                        ..
                    }
                ),
                "parse refused with a frame that is not a bad_frame/invalid error: {frame:?}"
            );
            let encoded = frame.encode();
            let value: serde_json::Value =
                serde_json::from_str(&encoded).expect("an error frame encodes to JSON");
            assert_eq!(value["type"], "error");
        }
    }
}
