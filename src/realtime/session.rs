//! What a live connection does with each client frame: sending, typing,
//! read receipts and catching up, with the connection's send budget; and
//! its opening and closing (registration in the hub, presence).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::hub::{self, Frame, Registration};
use crate::auth::accounts::{self, UserView};
use crate::chat::position::Latest;
use crate::chat::resume;
use crate::chat::{items, store};
use crate::limits::{SENDS, TokenBucket};
use crate::notify::{self, Kind};
use crate::presence;
use crate::state::AppState;
use crate::store::CmdError;
use crate::store::chat::{MarkRead, SendMessage, Sent, Stored};
use crate::store::chat_events::{Changed, EditMessage, React, Unsend};
use kith_core::ids::{Id, format_ms, now_ms};
use kith_core::protocol::{ClientFrame, ErrorCode, ServerFrame, VERSION};
use kith_core::resume::{Point, ResumeError};

/// Excess sends answered with an error frame before the connection is
/// closed for flooding.
const MAX_EXCESS: u32 = 100;

/// At most one typing indicator per conversation per this long is passed on.
const TYPING_EVERY: Duration = Duration::from_millis(1500);
/// Messages per page of a `sync` replay.
const SYNC_PAGE: i64 = 500;

/// What handling a frame produced: frames for this connection, and maybe a
/// follow-up frame to handle next (a `sync` continues page by page).
#[derive(Default)]
pub struct Answer {
    pub frames: Vec<Frame>,
    pub then: Option<ClientFrame>,
}

impl Answer {
    pub(super) fn reply(f: ServerFrame) -> Self {
        Self::reply_frames(vec![f.encode()])
    }

    fn reply_frames(frames: Vec<Frame>) -> Self {
        Answer { frames, then: None }
    }
}

fn cmd_error(e: CmdError) -> ServerFrame {
    match e {
        CmdError::NotFound(m) => ServerFrame::error(ErrorCode::NotFound, m),
        CmdError::Forbidden(m) => ServerFrame::error(ErrorCode::Forbidden, m),
        CmdError::Conflict(m) | CmdError::Invalid(m) | CmdError::TooLarge(m) => {
            ServerFrame::error(ErrorCode::Invalid, m)
        }
        CmdError::Unavailable(m) => ServerFrame::error(ErrorCode::Unavailable, m),
        CmdError::Unknown(m) => ServerFrame::error(ErrorCode::OutcomeUnknown, m),
        CmdError::Internal(m) => {
            tracing::error!(error = %m, "realtime command failed");
            ServerFrame::error(ErrorCode::Internal, "internal error")
        }
    }
}

fn db_error(e: impl std::fmt::Display) -> ServerFrame {
    tracing::error!(error = %e, "realtime read failed");
    ServerFrame::error(ErrorCode::Unavailable, "could not read; retry")
}

/// The per-connection state.
pub struct Conn {
    state: AppState,
    user: UserView,
    conn_id: u64,
    sends: TokenBucket,
    typing: HashMap<Id, Instant>,
    excess: u32,
    /// A position and when it was read: handed out by a `checkpoint` once
    /// it has settled ([`resume::SETTLE`]).
    mark: Option<(Instant, i64)>,
    /// The latest position handed to this connection.
    issued: i64,
}

impl Conn {
    /// Registers the connection; returns the frames to send first: hello,
    /// then which friends are online.
    pub(super) async fn open(
        state: AppState,
        user: UserView,
        session: Option<Id>,
    ) -> (Conn, Registration, Vec<Frame>) {
        let reg = state.hub.register(user.id, session);
        // Checked after registering: a ban or an account deletion that this
        // read misses commits after it, and its kick then finds this
        // connection. (A WebTransport ticket outlives neither.)
        match accounts::banned(&state.read, user.id).await {
            Ok(Some(false)) => {}
            Ok(Some(true)) => reg.kick.kick(hub::BANNED),
            Ok(None) => reg.kick.kick(hub::SIGNED_OUT),
            Err(e) => tracing::warn!(error = %e, "checking the account of a new connection"),
        }
        // Likewise for its session: one that ended before this connection
        // registered was logged before the watcher could find it here.
        if let Some(handle) = session {
            match crate::auth::sessions::is_live(&state.read, user.id, handle).await {
                Ok(true) => {}
                Ok(false) => reg.kick.kick(hub::SIGNED_OUT),
                Err(e) => tracing::warn!(error = %e, "checking the session of a new connection"),
            }
        }
        // Read after registering: items committed later reach this
        // connection live.
        let position = match state.positions.get(&state.reader, Duration::ZERO) {
            Ok((_, p)) => p,
            Err(e) => {
                tracing::warn!(error = %e, "reading the resume position");
                0
            }
        };
        let mut hello = vec![
            ServerFrame::Hello {
                version: VERSION,
                user: user.username.clone(),
                resume_token: state.resume.issue(Point {
                    user: user.id,
                    position,
                    issued_ms: now_ms(),
                }),
            }
            .encode(),
        ];
        hello.extend(
            presence::connected(&state.presence(), user.id, &user.username, reg.first).await,
        );
        let conn = Conn {
            state,
            user,
            conn_id: reg.conn,
            sends: TokenBucket::new(SENDS, Instant::now()),
            typing: HashMap::new(),
            excess: 0,
            mark: Some((Instant::now(), position)),
            issued: position,
        };
        (conn, reg, hello)
    }

    /// Whether the client went on sending past its budget for too long:
    /// the connection is closed for flooding.
    pub(super) fn flooding(&self) -> bool {
        self.excess > MAX_EXCESS
    }

    /// Unregisters; tells friends when this was the user's last connection.
    pub(super) async fn close(self, conn: u64) {
        self.state.live.forget(conn);
        if self.state.hub.unregister(self.user.id, conn) {
            presence::disconnected(
                &self.state.presence(),
                self.user.id,
                self.user.username.clone(),
            )
            .await;
        }
    }

    /// Handles one client frame.
    pub async fn handle(&mut self, frame: ClientFrame) -> Answer {
        match frame {
            ClientFrame::Ping => self.pong().await,
            ClientFrame::Resume { token } => self.resume(&token).await,
            ClientFrame::Watch { posts, feed } => self.watch(posts, feed).await,
            ClientFrame::Send {
                conversation_id,
                client_msg_id,
                body,
                media,
                reply_to,
            } => {
                if let Some(refused) = self.over_budget() {
                    return refused;
                }
                let cmd = SendMessage {
                    id: Id::generate(),
                    conversation: conversation_id,
                    sender: self.user.id,
                    client_msg_id,
                    body,
                    media,
                    reply_to,
                };
                self.send(cmd).await
            }
            ClientFrame::Edit {
                conversation_id,
                client_msg_id,
                seq,
                body,
            } => {
                if let Some(refused) = self.over_budget() {
                    return refused;
                }
                let cmd = EditMessage {
                    conversation: conversation_id,
                    editor: self.user.id,
                    client_msg_id: client_msg_id.clone(),
                    seq,
                    body,
                };
                let done = self.state.writer.run(cmd).await;
                self.changed(conversation_id, client_msg_id, done).await
            }
            ClientFrame::Unsend {
                conversation_id,
                client_msg_id,
                seq,
            } => {
                if let Some(refused) = self.over_budget() {
                    return refused;
                }
                let cmd = Unsend {
                    conversation: conversation_id,
                    sender: self.user.id,
                    client_msg_id: client_msg_id.clone(),
                    seq,
                };
                let done = self.state.writer.run(cmd).await;
                self.changed(conversation_id, client_msg_id, done).await
            }
            ClientFrame::React {
                conversation_id,
                client_msg_id,
                seq,
                emoji,
                remove,
            } => {
                if let Some(refused) = self.over_budget() {
                    return refused;
                }
                let cmd = React {
                    conversation: conversation_id,
                    user: self.user.id,
                    client_msg_id: client_msg_id.clone(),
                    seq,
                    emoji,
                    remove,
                };
                let done = self.state.writer.run(cmd).await;
                self.changed(conversation_id, client_msg_id, done).await
            }
            ClientFrame::Sync {
                conversation_id,
                after_seq,
            } => self.sync(conversation_id, after_seq).await,
            ClientFrame::Typing { conversation_id } => {
                let now = Instant::now();
                let recent = self
                    .typing
                    .get(&conversation_id)
                    .is_some_and(|t| now.duration_since(*t) < TYPING_EVERY);
                if recent {
                    return Answer::default();
                }
                let me = self.user.id;
                let mut audience = match store::audience(&self.state.reader, conversation_id, me) {
                    Ok(a) => a,
                    Err(e) => return Answer::reply(db_error(e)),
                };
                if !audience.members.contains(&me) {
                    return Answer::reply(not_member());
                }
                if audience.blocked {
                    return Answer::reply(ServerFrame::error(
                        ErrorCode::Forbidden,
                        crate::store::chat::BLOCKED_MESSAGE,
                    ));
                }
                if self.typing.len() > 1000 {
                    self.typing.clear();
                }
                self.typing.insert(conversation_id, now);
                let f = ServerFrame::Typing {
                    conversation_id,
                    user: self.user.username.clone(),
                }
                .encode();
                audience.members.retain(|m| *m != me);
                self.state
                    .fan_out(&audience.members, &f, Some(self.conn_id))
                    .await;
                Answer::default()
            }
            ClientFrame::Read {
                conversation_id,
                seq,
            } => {
                let cmd = MarkRead {
                    conversation: conversation_id,
                    user: self.user.id,
                    seq,
                };
                match self.state.writer.run(cmd).await {
                    Ok(seq) => {
                        let f = ServerFrame::Read {
                            conversation_id,
                            user: self.user.username.clone(),
                            seq,
                        }
                        .encode();
                        self.fan_out(conversation_id, &f).await;
                        Answer::default()
                    }
                    Err(e) => Answer::reply(cmd_error(e)),
                }
            }
        }
    }

    /// Watches the posts this user may see (the one visibility rule); the
    /// others are refused with one error.
    async fn watch(&mut self, posts: Vec<Id>, feed: bool) -> Answer {
        let sql = format!(
            "SELECT p.id FROM posts p WHERE p.id = ?2 AND {}",
            crate::store::visibility::VISIBLE
        );
        let mut ok = std::collections::HashSet::new();
        let mut refused = Vec::new();
        for post in posts {
            let found: Result<Option<i64>, _> = sqlx::query_scalar(&sql)
                .bind(self.user.id.0)
                .bind(post.0)
                .fetch_optional(&self.state.read)
                .await;
            match found {
                Ok(Some(_)) => {
                    ok.insert(post);
                }
                Ok(None) => refused.push(post.to_string()),
                Err(e) => return Answer::reply(db_error(e)),
            }
        }
        let mut watched: Vec<Id> = ok.iter().copied().collect();
        watched.sort();
        self.state.live.set(self.conn_id, self.user.id, ok, feed);
        let mut frames = vec![ServerFrame::Watching { posts: watched }.encode()];
        if !refused.is_empty() {
            frames.push(
                ServerFrame::error(
                    ErrorCode::NotFound,
                    format!("no post you can see: {}", refused.join(", ")),
                )
                .encode(),
            );
        }
        Answer::reply_frames(frames)
    }

    fn token(&self, position: i64) -> String {
        self.state.resume.issue(Point {
            user: self.user.id,
            position,
            issued_ms: now_ms(),
        })
    }

    /// Answers a ping, with a `checkpoint` when a newer position has
    /// settled. Clients ping every 20 s, so a position is handed out 20 s
    /// after it was read, never before [`resume::SETTLE`].
    async fn pong(&mut self) -> Answer {
        let mut frames = vec![ServerFrame::Pong.encode()];
        if let Some((at, position)) = self.mark
            && at.elapsed() >= resume::SETTLE
        {
            if position > self.issued {
                frames.push(
                    ServerFrame::Checkpoint {
                        token: self.token(position),
                    }
                    .encode(),
                );
                self.issued = position;
            }
            self.mark = None;
        }
        if self.mark.is_none() {
            match self.state.positions.get(&self.state.reader, Latest::PING) {
                Ok(read) => self.mark = Some(read),
                Err(e) => tracing::warn!(error = %e, "reading the resume position"),
            }
        }
        Answer::reply_frames(frames)
    }

    /// Sends everything missed since the token's point, then `resumed`.
    async fn resume(&mut self, token: &str) -> Answer {
        let point = match self.state.resume.check(token, self.user.id, now_ms()) {
            Ok(p) => p,
            Err(ResumeError::OtherUser) => {
                return Answer::reply(ServerFrame::error(
                    ErrorCode::Forbidden,
                    "resume token of another user",
                ));
            }
            Err(ResumeError::TooOld) => {
                return match self.state.positions.get(&self.state.reader, Duration::ZERO) {
                    Ok((_, p)) => self.resumed(Vec::new(), true, p),
                    Err(e) => Answer::reply(db_error(e)),
                };
            }
            Err(e) => return Answer::reply(ServerFrame::error(ErrorCode::Invalid, e.to_string())),
        };
        match resume::replay(&self.state.read, &self.state.reader, self.user.id, point).await {
            Ok(r) => self.resumed(r.frames, r.full, r.position),
            Err(e) => Answer::reply(db_error(e)),
        }
    }

    fn resumed(&mut self, mut frames: Vec<Frame>, full: bool, position: i64) -> Answer {
        let replayed = frames.len();
        frames.push(
            ServerFrame::Resumed {
                token: self.token(position),
                full,
                replayed,
            }
            .encode(),
        );
        self.issued = self.issued.max(position);
        Answer::reply_frames(frames)
    }

    /// Takes one write from the send budget, or answers the refusal.
    /// Each connection has its budget, and (unless the per-user limits are
    /// off) the user has one across all their connections on this node:
    /// more sockets buy no more writes.
    fn over_budget(&mut self) -> Option<Answer> {
        let now = Instant::now();
        let allowed = self.sends.take_at(now).is_ok()
            && self
                .state
                .send_limits
                .as_ref()
                .is_none_or(|users| users.take_at(self.user.id.0, now).is_ok());
        if allowed {
            return None;
        }
        self.excess += 1;
        Some(Answer::reply(ServerFrame::error(
            ErrorCode::RateLimited,
            "sending too fast; nothing was changed",
        )))
    }

    async fn send(&mut self, cmd: SendMessage) -> Answer {
        let SendMessage {
            conversation,
            client_msg_id,
            body,
            reply_to,
            ..
        } = cmd.clone();
        let attached = !cmd.media.is_empty();
        let Sent { stored, mentioned } = match self.state.writer.run(cmd).await {
            Ok(sent) => sent,
            Err(e) => return Answer::reply(cmd_error(e)),
        };
        let Stored {
            id,
            seq,
            created_at,
            duplicate,
        } = stored;
        let ack = ServerFrame::Ack {
            conversation_id: conversation,
            client_msg_id: client_msg_id.clone(),
            seq,
            message_id: id,
        }
        .encode();
        if duplicate {
            return Answer::reply_frames(vec![ack]);
        }
        // A plain message is built from what the connection already knows:
        // no read on the path of every message (docs/protocol.md). What it
        // does not know (media views, the quote) is read.
        let message = if attached || reply_to.is_some() {
            match items::at(&self.state.reader, conversation, seq) {
                Ok(Some(item)) => item.into_frame(),
                // Stored and acknowledged: members get it on their next sync.
                Ok(None) => return Answer::reply_frames(vec![ack]),
                Err(e) => {
                    tracing::warn!(error = %e, "reading a new message");
                    return Answer::reply_frames(vec![ack]);
                }
            }
        } else {
            ServerFrame::Message(Box::new(store::MessageView {
                conversation_id: conversation,
                seq,
                message_id: id,
                sender: Some(self.user.username.clone()),
                sender_avatar: Some(self.user.avatar.clone()),
                body,
                client_msg_id,
                created_at: format_ms(created_at),
                media: Vec::new(),
                reply_to: None,
                edited_at: None,
                unsent: false,
                reactions: Vec::new(),
                mentions: mentioned.iter().map(|(_, name)| name.clone()).collect(),
            }))
        };
        let recipients = store::recipients(&self.state.reader, conversation).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "reading members for fan-out");
            store::Recipients::default()
        });
        let offline = self
            .state
            .fan_out(&recipients.members, &message.encode(), Some(self.conn_id))
            .await;
        // Named members are told even while online (as Slack does); the
        // rest only when they are connected nowhere.
        for (member, _) in &mentioned {
            notify::spawn(
                &self.state,
                *member,
                Kind::ChatMention,
                self.user.id,
                conversation,
            );
        }
        for &member in &offline {
            if !mentioned.iter().any(|(m, _)| *m == member) {
                notify::spawn(
                    &self.state,
                    member,
                    Kind::Message,
                    self.user.id,
                    conversation,
                );
            }
        }
        // Those who got it live get a push if it stays unread.
        let mut notified = offline;
        notified.extend(mentioned.iter().map(|(m, _)| *m));
        let online_with_push: Vec<Id> = recipients
            .with_push
            .into_iter()
            .filter(|u| *u != self.user.id && !notified.contains(u))
            .collect();
        crate::push::nudge_online(
            &self.state,
            conversation,
            seq,
            self.user.id,
            online_with_push,
        );
        Answer::reply_frames(vec![ack])
    }

    /// Answers a change to a message (edit, unsend, reaction) and tells the
    /// members about it.
    async fn changed(
        &mut self,
        conversation: Id,
        client_msg_id: String,
        done: Result<Changed, CmdError>,
    ) -> Answer {
        let Changed { item, changed } = match done {
            Ok(c) => c,
            Err(e) => return Answer::reply(cmd_error(e)),
        };
        let ack = ServerFrame::Ack {
            conversation_id: conversation,
            client_msg_id,
            seq: item.seq,
            message_id: item.id,
        }
        .encode();
        if changed {
            match items::at(&self.state.reader, conversation, item.seq) {
                Ok(Some(event)) => {
                    let frame = event.into_frame().encode();
                    self.fan_out(conversation, &frame).await;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "reading a new event"),
            }
        }
        Answer::reply_frames(vec![ack])
    }

    /// Replays one page of items after `after_seq`; continues with the
    /// next page until caught up, then says `synced`.
    async fn sync(&mut self, conversation: Id, after_seq: i64) -> Answer {
        // A former member replays up to their removal and no further.
        let range = match items::range(&self.state.reader, conversation, self.user.id) {
            Ok(Some(r)) => r,
            Ok(None) => return Answer::reply(not_member()),
            Err(e) => return Answer::reply(db_error(e)),
        };
        let (after, before) = range.clamp(after_seq.max(0), i64::MAX);
        let page = match items::page(
            &self.state.reader,
            conversation,
            after,
            before,
            SYNC_PAGE,
            true,
        ) {
            Ok(p) => p,
            Err(e) => return Answer::reply(db_error(e)),
        };
        let full = page.len() as i64 == SYNC_PAGE;
        let last = page.last().map(|m| m.seq()).unwrap_or(after);
        let mut frames: Vec<Frame> = page.into_iter().map(|m| m.into_frame().encode()).collect();
        if full {
            return Answer {
                frames,
                then: Some(ClientFrame::Sync {
                    conversation_id: conversation,
                    after_seq: last,
                }),
            };
        }
        let read = match store::read_positions(&self.state.read, conversation).await {
            Ok(r) => r,
            Err(e) => return Answer::reply(db_error(e)),
        };
        frames.push(
            ServerFrame::Synced {
                conversation_id: conversation,
                last_seq: last,
                read,
            }
            .encode(),
        );
        Answer { frames, then: None }
    }

    /// Queues `frame` for the conversation's members (not this
    /// connection). Returns the members with no live connection.
    async fn fan_out(&self, conversation: Id, frame: &Frame) -> Vec<Id> {
        let members = match store::member_ids(&self.state.reader, conversation) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "reading members for fan-out");
                return vec![];
            }
        };
        self.state
            .fan_out(&members, frame, Some(self.conn_id))
            .await
    }
}

fn not_member() -> ServerFrame {
    ServerFrame::error(ErrorCode::NotFound, "conversation not found")
}
