//! One live connection, whatever its transport: registration in the hub,
//! presence, and the handling of each client frame.
//!
//! A transport ([`Transport`]) only moves text frames; [`serve`] runs the
//! loop: client frames in, queued hub frames out, until either side closes
//! or the hub kicks the connection.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::hub::{self, Frame, Registration};
use super::protocol::{self, ClientFrame, ErrorCode, ServerFrame, VERSION};
use crate::auth::accounts::{self, UserView};
use crate::chat::store;
use crate::ids::{Id, format_ms};
use crate::limits::{SENDS, TokenBucket};
use crate::notify::{self, Kind};
use crate::presence;
use crate::state::AppState;
use crate::store::CmdError;
use crate::store::chat::{MarkRead, SendMessage, Stored};

/// Excess sends answered with an error frame before the connection is
/// closed for flooding.
const MAX_EXCESS: u32 = 100;
/// At most one typing indicator per conversation per this long is passed on.
const TYPING_EVERY: Duration = Duration::from_millis(1500);
/// How long a close frame may wait to be written.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages per page of a `sync` replay.
const SYNC_PAGE: i64 = 500;

/// What ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client closed or went away.
    Client,
    /// A frame over the size limit (WebSocket code 1009).
    TooBig,
    /// Kicked by the hub: slow consumer, logout, shutdown.
    Kicked(&'static str),
    /// Too many frames over the rate limit.
    Flooding,
}

/// An inbound event from a transport.
pub enum Inbound {
    Text(String),
    /// Binary data, which this protocol does not use.
    Binary,
    TooBig,
}

/// A transport carrying text frames both ways.
pub trait Transport: Send {
    /// The next inbound event; `None` once the client has gone.
    fn recv(&mut self) -> impl Future<Output = Option<Inbound>> + Send;
    fn send(&mut self, frame: &str) -> impl Future<Output = Result<(), ()>> + Send;
    /// Sends several frames; a transport that can buffer writes them with
    /// one flush (one syscall for a backlog instead of one per frame).
    fn send_all(&mut self, frames: &[Frame]) -> impl Future<Output = Result<(), ()>> + Send {
        async move {
            for f in frames {
                self.send(f).await?;
            }
            Ok(())
        }
    }
    /// Closes with a reason the client can read, where the transport can.
    fn close(&mut self, reason: CloseReason) -> impl Future<Output = ()> + Send;
}

/// Queued frames written together at most (one flush).
const SEND_BATCH: usize = 64;

/// Serves one connection of `user` over `transport` until it ends.
pub async fn serve<T: Transport>(state: AppState, user: UserView, mut transport: T) {
    let (mut conn, mut reg, hello) = Conn::open(state, user).await;
    let mut reason = CloseReason::Client;
    let mut ok = true;
    let mut batch = Vec::new();
    for f in hello {
        ok &= transport.send(&f).await.is_ok();
    }
    while ok {
        tokio::select! {
            inbound = transport.recv() => match inbound {
                None => break,
                Some(Inbound::TooBig) => { reason = CloseReason::TooBig; break; }
                Some(Inbound::Binary) => {
                    let f = ServerFrame::error(ErrorCode::BadFrame, "frames are JSON text").encode();
                    ok = transport.send(&f).await.is_ok();
                }
                Some(Inbound::Text(text)) => {
                    let mut next = Some(protocol::parse(&text));
                    while let Some(frame) = next.take() {
                        let out = match frame {
                            Ok(frame) => conn.handle(frame).await,
                            Err(err) => Outcome::reply(err),
                        };
                        for f in &out.frames {
                            ok &= transport.send(f).await.is_ok();
                        }
                        next = out.then.map(Ok);
                    }
                    if conn.excess > MAX_EXCESS {
                        reason = CloseReason::Flooding;
                        break;
                    }
                }
            },
            frame = reg.rx.recv() => match frame {
                // A client that stops reading blocks this send; the hub
                // then kicks it once its queue fills, which ends the wait.
                Some(f) => {
                    // Whatever else is queued goes out with it.
                    batch.clear();
                    batch.push(f);
                    while batch.len() < SEND_BATCH {
                        match reg.rx.try_recv() {
                            Ok(f) => batch.push(f),
                            Err(_) => break,
                        }
                    }
                    tokio::select! {
                        r = transport.send_all(&batch) => ok = r.is_ok(),
                        why = reg.kick.kicked() => { reason = CloseReason::Kicked(why); break; }
                    }
                }
                None => break,
            },
            why = reg.kick.kicked() => { reason = CloseReason::Kicked(why); break; }
        }
    }
    if reason != CloseReason::Client {
        // The close frame waits behind whatever the client has not read;
        // a client that reads nothing gets its socket dropped instead.
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, transport.close(reason)).await;
    }
    conn.close(reg.conn).await;
}

/// What handling a frame produced: frames for this connection, and maybe a
/// follow-up frame to handle next (a `sync` continues page by page).
#[derive(Default)]
pub struct Outcome {
    pub frames: Vec<Frame>,
    pub then: Option<ClientFrame>,
}

impl Outcome {
    fn reply(f: ServerFrame) -> Self {
        Outcome {
            frames: vec![f.encode()],
            then: None,
        }
    }
}

fn cmd_error(e: CmdError) -> ServerFrame {
    match e {
        CmdError::NotFound(m) => ServerFrame::error(ErrorCode::NotFound, m),
        CmdError::Forbidden(m) => ServerFrame::error(ErrorCode::Forbidden, m),
        CmdError::Conflict(m) | CmdError::Invalid(m) => ServerFrame::error(ErrorCode::Invalid, m),
        CmdError::Unavailable(m) => ServerFrame::error(ErrorCode::Unavailable, m),
        CmdError::Internal(m) => {
            tracing::error!(error = %m, "realtime command failed");
            ServerFrame::error(ErrorCode::Internal, "internal error")
        }
    }
}

fn db_error(e: sqlx::Error) -> ServerFrame {
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
}

impl Conn {
    /// Registers the connection; returns the frames to send first: hello,
    /// then which friends are online.
    async fn open(state: AppState, user: UserView) -> (Conn, Registration, Vec<Frame>) {
        let reg = state.hub.register(user.id.0);
        // Checked after registering: a ban or an account deletion that this
        // read misses commits after it, and its kick then finds this
        // connection. (A WebTransport ticket outlives neither.)
        match accounts::banned(&state.read, user.id).await {
            Ok(Some(false)) => {}
            Ok(Some(true)) => reg.kick.kick(hub::BANNED),
            Ok(None) => reg.kick.kick(hub::SIGNED_OUT),
            Err(e) => tracing::warn!(error = %e, "checking the account of a new connection"),
        }
        let mut hello = vec![
            ServerFrame::Hello {
                version: VERSION,
                user: user.username.clone(),
            }
            .encode(),
        ];
        hello.extend(presence::connected(&state, user.id, &user.username, reg.first).await);
        let conn = Conn {
            state,
            user,
            conn_id: reg.conn,
            sends: TokenBucket::new(SENDS, Instant::now()),
            typing: HashMap::new(),
            excess: 0,
        };
        (conn, reg, hello)
    }

    /// Unregisters; tells friends when this was the user's last connection.
    async fn close(self, conn: u64) {
        if self.state.hub.unregister(self.user.id.0, conn) {
            presence::disconnected(&self.state, self.user.id, self.user.username.clone()).await;
        }
    }

    /// Handles one client frame.
    pub async fn handle(&mut self, frame: ClientFrame) -> Outcome {
        match frame {
            ClientFrame::Ping => Outcome::reply(ServerFrame::Pong),
            ClientFrame::Send {
                conversation_id,
                client_msg_id,
                body,
            } => {
                // Each connection has its budget, and (unless the per-user
                // limits are off) the user has one across all their
                // connections on this node: more sockets buy no more sends.
                let now = Instant::now();
                let allowed = self.sends.take_at(now).is_ok()
                    && self
                        .state
                        .send_limits
                        .as_ref()
                        .is_none_or(|users| users.take_at(self.user.id.0, now).is_ok());
                if !allowed {
                    self.excess += 1;
                    return Outcome::reply(ServerFrame::error(
                        ErrorCode::RateLimited,
                        "sending too fast; the message was not sent",
                    ));
                }
                self.send(conversation_id, client_msg_id, body).await
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
                    return Outcome::default();
                }
                let (read, me) = (&self.state.read, self.user.id);
                match store::is_member(read, conversation_id, me).await {
                    Ok(true) => {}
                    Ok(false) => return Outcome::reply(not_member()),
                    Err(e) => return Outcome::reply(db_error(e)),
                }
                match store::direct_blocked(read, conversation_id, me).await {
                    Ok(false) => {}
                    Ok(true) => {
                        return Outcome::reply(ServerFrame::error(
                            ErrorCode::Forbidden,
                            crate::store::chat::BLOCKED_MESSAGE,
                        ));
                    }
                    Err(e) => return Outcome::reply(db_error(e)),
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
                self.fan_out(conversation_id, &f, true).await;
                Outcome::default()
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
                        self.fan_out(conversation_id, &f, false).await;
                        Outcome::default()
                    }
                    Err(e) => Outcome::reply(cmd_error(e)),
                }
            }
        }
    }

    async fn send(&mut self, conversation: Id, client_msg_id: String, body: String) -> Outcome {
        let cmd = SendMessage {
            id: Id::generate(),
            conversation,
            sender: self.user.id,
            client_msg_id: client_msg_id.clone(),
            body: body.clone(),
        };
        let Stored {
            id,
            seq,
            created_at,
            duplicate,
        } = match self.state.writer.run(cmd).await {
            Ok(stored) => stored,
            Err(e) => return Outcome::reply(cmd_error(e)),
        };
        let ack = ServerFrame::Ack {
            conversation_id: conversation,
            client_msg_id: client_msg_id.clone(),
            seq,
            message_id: id,
        }
        .encode();
        if !duplicate {
            let message = ServerFrame::Message(store::MessageView {
                conversation_id: conversation,
                seq,
                message_id: id,
                sender: Some(self.user.username.clone()),
                body,
                client_msg_id,
                created_at: format_ms(created_at),
            })
            .encode();
            let offline = self.fan_out(conversation, &message, false).await;
            for member in offline {
                let state = self.state.clone();
                let actor = self.user.id;
                tokio::spawn(async move {
                    notify::notify(&state, Id(member), Kind::Message, actor, conversation).await;
                });
            }
        }
        Outcome {
            frames: vec![ack],
            then: None,
        }
    }

    /// Replays one page of messages after `after_seq`; continues with the
    /// next page until caught up, then says `synced`.
    async fn sync(&mut self, conversation: Id, after_seq: i64) -> Outcome {
        match store::is_member(&self.state.read, conversation, self.user.id).await {
            Ok(true) => {}
            Ok(false) => return Outcome::reply(not_member()),
            Err(e) => return Outcome::reply(db_error(e)),
        }
        let page = match store::messages(
            &self.state.read,
            conversation,
            after_seq.max(0),
            i64::MAX,
            SYNC_PAGE,
            true,
        )
        .await
        {
            Ok(p) => p,
            Err(e) => return Outcome::reply(db_error(e)),
        };
        let full = page.len() as i64 == SYNC_PAGE;
        let last = page.last().map(|m| m.seq).unwrap_or(after_seq.max(0));
        let mut frames: Vec<Frame> = page
            .into_iter()
            .map(|m| ServerFrame::Message(m).encode())
            .collect();
        if full {
            return Outcome {
                frames,
                then: Some(ClientFrame::Sync {
                    conversation_id: conversation,
                    after_seq: last,
                }),
            };
        }
        frames.push(
            ServerFrame::Synced {
                conversation_id: conversation,
                last_seq: last,
            }
            .encode(),
        );
        Outcome { frames, then: None }
    }

    /// Queues `frame` for the conversation's members (not this connection;
    /// with `skip_self`, none of this user's). Returns the members with no
    /// live connection.
    async fn fan_out(&self, conversation: Id, frame: &Frame, skip_self: bool) -> Vec<i64> {
        let members = match store::member_ids(&self.state.read, conversation).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "reading members for fan-out");
                return vec![];
            }
        };
        let mut offline = Vec::new();
        let mut elsewhere = Vec::new();
        for m in members {
            let remote = self.state.remote_online(m);
            if m == self.user.id.0 {
                if !skip_self {
                    self.state.hub.send(m, frame, Some(self.conn_id));
                    if remote {
                        elsewhere.push(m);
                    }
                }
                continue;
            }
            if remote {
                elsewhere.push(m);
            }
            if self.state.hub.is_online(m) {
                self.state.hub.send(m, frame, None);
            } else if !remote {
                offline.push(m);
            }
        }
        if let Some(c) = &self.state.cluster {
            c.deliver(elsewhere, frame).await;
        }
        offline
    }
}

fn not_member() -> ServerFrame {
    ServerFrame::error(ErrorCode::NotFound, "conversation not found")
}
