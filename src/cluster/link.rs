//! Direct requests between nodes on kith's ALPN: forwarded writes,
//! presence snapshots, and the admin console's per-node stats.
//!
//! Every connection opens with a proof exchange on its first stream: the
//! client proves the cluster secret bound to (client id, server id), the
//! server answers with its own proof bound the other way round, so neither
//! side talks to an impostor. Each later request is one bidirectional
//! stream: a JSON request, finished; a JSON response.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use iroh::EndpointId;
use iroh::endpoint::{Connection, ConnectionError, RecvStream, SendStream, VarInt};
use iroh::protocol::{AcceptError, ProtocolHandler};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex as AsyncMutex;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{ALPN, Cluster, HELLO, REFUSED, Role, WELCOME};
use crate::db::AnyCommand;
use crate::db::writer::{Forward, Forwarded};
use crate::metrics::history::NodeStats;
use crate::store::CmdError;
use kith_core::sync::Unpoisoned;

/// The largest request or response read from a link.
const MAX_MESSAGE: usize = 8 * 1024 * 1024;
/// A forwarded write fails with `Unavailable` after this long: the caller
/// answers 503 within 5 s.
pub const FORWARD_TIMEOUT: Duration = Duration::from_millis(4500);
/// How long connecting (and proving) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long a replica waits for its copy to reach a forwarded write.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Request {
    Hello {
        proof: Vec<u8>,
    },
    Write(AnyCommand),
    Presence,
    /// This node's stats and its last hour, for the admin console.
    Stats,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Response {
    Welcome {
        proof: Vec<u8>,
    },
    /// The command's result, and the primary's replication position after
    /// it (the LiteFS TXID) when known.
    Written {
        result: Result<serde_json::Value, CmdError>,
        position: Option<u64>,
    },
    Presence {
        seq: u64,
        users: Vec<i64>,
    },
    Stats(Box<Stats>),
    Refused(String),
}

/// A node's answer to [`Links::stats`]: its role now, and its history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stats {
    pub role: String,
    pub stats: NodeStats,
}

/// The error a refused connection ends with.
#[derive(Debug, thiserror::Error)]
#[error("refused: not a member of this cluster")]
pub struct Refused;

async fn call(conn: &Connection, req: &Request) -> anyhow::Result<Response> {
    let (mut send, mut recv) = conn.open_bi().await?;
    send.write_all(&serde_json::to_vec(req)?).await?;
    send.finish()?;
    let bytes = recv.read_to_end(MAX_MESSAGE).await?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// Serves kith's ALPN.
#[derive(Debug, Clone)]
pub struct Handler(pub Weak<Cluster>);

impl ProtocolHandler for Handler {
    async fn accept(&self, conn: Connection) -> Result<(), AcceptError> {
        let Some(cluster) = self.0.upgrade() else {
            return Ok(());
        };
        let remote = conn.remote_id();
        // The proof comes first; nothing else is read before it.
        let proven = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let (mut send, mut recv) = conn.accept_bi().await.ok()?;
            let bytes = recv.read_to_end(4096).await.ok()?;
            let Ok(Request::Hello { proof }) = serde_json::from_slice(&bytes) else {
                return None;
            };
            if !cluster.secret.verify(HELLO, &remote, &cluster.id, &proof) {
                return None;
            }
            let welcome = Response::Welcome {
                proof: cluster.secret.proof(WELCOME, &cluster.id, &remote),
            };
            send.write_all(&serde_json::to_vec(&welcome).ok()?)
                .await
                .ok()?;
            send.finish().ok()?;
            Some(())
        })
        .await;
        if !matches!(proven, Ok(Some(()))) {
            tracing::warn!(peer = %remote, "refused a cluster connection without a valid proof");
            conn.close(VarInt::from_u32(REFUSED), b"not a member of this cluster");
            return Err(AcceptError::from_err(Refused));
        }
        cluster.admit(remote);
        drop(cluster);
        loop {
            let stream = tokio::select! {
                bi = conn.accept_bi() => bi.map(Stream::Bi),
                uni = conn.accept_uni() => uni.map(Stream::Uni),
            };
            let (mut send, mut recv) = match stream {
                Ok(Stream::Bi(s)) => s,
                Ok(Stream::Uni(recv)) => {
                    tokio::spawn(read_deliveries(self.0.clone(), recv));
                    continue;
                }
                Err(ConnectionError::ApplicationClosed(_) | ConnectionError::LocallyClosed) => {
                    return Ok(());
                }
                Err(e) => return Err(AcceptError::from_err(e)),
            };
            let weak = self.0.clone();
            tokio::spawn(async move {
                let Some(cluster) = weak.upgrade() else {
                    return;
                };
                let response = match recv.read_to_end(MAX_MESSAGE).await {
                    Ok(bytes) => match serde_json::from_slice::<Request>(&bytes) {
                        Ok(req) => serve(&cluster, req).await,
                        Err(e) => Response::Refused(format!("bad request: {e}")),
                    },
                    Err(e) => Response::Refused(format!("reading the request: {e}")),
                };
                drop(cluster);
                if let Ok(bytes) = serde_json::to_vec(&response) {
                    let _ = send.write_all(&bytes).await;
                    let _ = send.finish();
                }
            });
        }
    }
}

enum Stream {
    Bi((SendStream, RecvStream)),
    Uni(RecvStream),
}

/// Frames for users on this node, from another node's delivery stream:
/// each a 4-byte big-endian length and a JSON [`Delivery`].
async fn read_deliveries(cluster: Weak<Cluster>, mut recv: RecvStream) {
    let mut len = [0u8; 4];
    loop {
        if recv.read_exact(&mut len).await.is_err() {
            return;
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_MESSAGE {
            tracing::warn!(len = n, "oversized delivery; dropping the stream");
            return;
        }
        let mut buf = vec![0u8; n];
        if recv.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        match serde_json::from_slice::<Delivery>(&buf) {
            Ok(d) => cluster.delivered(d),
            Err(e) => tracing::warn!(error = %e, "undecodable delivery"),
        }
    }
}

/// Frames for users connected to the receiving node, or a change for its
/// watchers (`live`, a [`crate::live::Touch`]; then no users).
#[derive(Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub users: Vec<i64>,
    pub frame: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<serde_json::Value>,
}

/// Frames queued for one node before new ones are dropped (its clients
/// catch up with `sync`).
const DELIVERY_QUEUE: usize = 8192;

/// An ordered stream of deliveries to one node: one QUIC stream kept open
/// on the proven connection, written by one task, so a conversation's
/// frames arrive in the order they were sent.
pub struct Outbox {
    tx: mpsc::Sender<Vec<u8>>,
}

impl Outbox {
    fn start(cluster: Weak<Cluster>, id: EndpointId) -> Outbox {
        let (tx, rx) = mpsc::channel(DELIVERY_QUEUE);
        tokio::spawn(write_deliveries(cluster, id, rx));
        Outbox { tx }
    }
}

async fn write_deliveries(cluster: Weak<Cluster>, id: EndpointId, mut rx: mpsc::Receiver<Vec<u8>>) {
    let mut stream: Option<SendStream> = None;
    while let Some(first) = rx.recv().await {
        let Some(c) = cluster.upgrade() else {
            return;
        };
        // Whatever else is queued goes in the same write.
        let mut buf = first;
        while buf.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(more) => buf.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        if stream.is_none() {
            stream = match c.links.get(&c, id).await {
                Ok(conn) => conn.open_uni().await.ok(),
                Err(e) => {
                    tracing::debug!(error = %e, node = %id.fmt_short(), "no delivery stream");
                    None
                }
            };
        }
        drop(c);
        let Some(s) = stream.as_mut() else {
            continue;
        };
        if let Err(e) = s.write_all(&buf).await {
            tracing::debug!(error = %e, node = %id.fmt_short(), "delivery stream broke");
            stream = None;
        }
    }
}

async fn serve(cluster: &Cluster, req: Request) -> Response {
    match req {
        Request::Hello { .. } => Response::Refused("already proven".into()),
        Request::Presence => {
            let (seq, users) = cluster.snapshot();
            Response::Presence { seq, users }
        }
        Request::Stats => Response::Stats(Box::new(cluster.stats())),
        Request::Write(cmd) => {
            let result = cluster.host().writer.run_here(cmd).await;
            let position = cluster.litefs.as_ref().and_then(|fs| fs.position());
            Response::Written { result, position }
        }
    }
}

/// Open, proven connections to other nodes.
#[derive(Default)]
pub struct Links {
    conns: AsyncMutex<HashMap<EndpointId, Connection>>,
    outboxes: std::sync::Mutex<HashMap<EndpointId, Outbox>>,
    /// When each node last answered a request on its connection.
    answered: std::sync::Mutex<HashMap<EndpointId, Instant>>,
}

impl Links {
    /// Queues `d` for node `id`; false when its queue is full (the frame
    /// is dropped).
    pub fn deliver(&self, cluster: &Arc<Cluster>, id: EndpointId, d: &Delivery) -> bool {
        let Ok(json) = serde_json::to_vec(d) else {
            return false;
        };
        let mut bytes = Vec::with_capacity(json.len() + 4);
        bytes.extend_from_slice(&(json.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&json);
        let mut boxes = self.outboxes.write_lock();
        let outbox = boxes
            .entry(id)
            .or_insert_with(|| Outbox::start(Arc::downgrade(cluster), id));
        match outbox.tx.try_send(bytes) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => false,
            Err(mpsc::error::TrySendError::Closed(b)) => {
                // Its task ended: start another.
                let fresh = Outbox::start(Arc::downgrade(cluster), id);
                let ok = fresh.tx.try_send(b).is_ok();
                boxes.insert(id, fresh);
                ok
            }
        }
    }

    /// A proven connection to `id`, reused while it lives.
    async fn get(&self, cluster: &Cluster, id: EndpointId) -> anyhow::Result<Connection> {
        let mut conns = self.conns.lock().await;
        if let Some(c) = conns.get(&id) {
            if c.close_reason().is_none() {
                return Ok(c.clone());
            }
            conns.remove(&id);
        }
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, async {
            let conn = cluster.endpoint.connect(id, ALPN).await?;
            let hello = Request::Hello {
                proof: cluster.secret.proof(HELLO, &cluster.id, &id),
            };
            match call(&conn, &hello).await? {
                Response::Welcome { proof }
                    if cluster.secret.verify(WELCOME, &id, &cluster.id, &proof) =>
                {
                    Ok(conn)
                }
                _ => {
                    conn.close(VarInt::from_u32(REFUSED), b"bad proof");
                    anyhow::bail!("node {} did not prove the cluster secret", id.fmt_short())
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("connecting to node {} timed out", id.fmt_short()))??;
        cluster.admit(id);
        conns.insert(id, conn.clone());
        Ok(conn)
    }

    /// [`call`] on `id`'s connection, noting when it answers.
    async fn ask(
        &self,
        id: EndpointId,
        conn: &Connection,
        req: &Request,
    ) -> anyhow::Result<Response> {
        let answer = call(conn, req).await?;
        self.answered.write_lock().insert(id, Instant::now());
        Ok(answer)
    }

    /// After a request to `id` sent at `sent` timed out: drops the
    /// connection ([`Links::forget`]) unless another request has had its
    /// answer on it since. A node that answers is slow, not gone: one
    /// connection carries every forwarded write, and closing it under a
    /// saturated primary failed thousands of writes in flight at once as
    /// "outcome unknown" in a two-node chat run offered 1.5 times what the
    /// primary's core could carry.
    async fn forget_if_silent(&self, id: &EndpointId, sent: Instant) {
        let answered = self.answered.read_lock().get(id).copied();
        if answered.is_some_and(|at| at > sent) {
            tracing::debug!(node = %id.fmt_short(), "a request timed out on a connection that still answers");
            return;
        }
        self.forget(id).await;
    }

    /// Drops the connection to `id` after it failed: closed, not only
    /// forgotten, so that iroh lets go of it at once instead of at its
    /// idle timeout (a node that restarted is otherwise reached through
    /// its old run's connection state for that long).
    async fn forget(&self, id: &EndpointId) {
        if let Some(c) = self.conns.lock().await.remove(id) {
            c.close(VarInt::from_u32(0), b"unresponsive");
        }
    }

    /// Another node's presence set.
    pub async fn presence(
        &self,
        cluster: &Cluster,
        id: EndpointId,
    ) -> anyhow::Result<(u64, Vec<i64>)> {
        let conn = self.get(cluster, id).await?;
        let sent = Instant::now();
        match tokio::time::timeout(CONNECT_TIMEOUT, self.ask(id, &conn, &Request::Presence)).await {
            Ok(Ok(Response::Presence { seq, users })) => Ok((seq, users)),
            Ok(Ok(other)) => anyhow::bail!("unexpected answer {other:?}"),
            Ok(Err(e)) => {
                self.forget(&id).await;
                Err(e)
            }
            Err(_) => {
                self.forget_if_silent(&id, sent).await;
                anyhow::bail!("presence request timed out")
            }
        }
    }
}

impl Cluster {
    /// This node's answer to a [`Request::Stats`].
    pub fn stats(&self) -> Stats {
        Stats {
            role: self.role().as_str().into(),
            stats: self
                .host
                .metrics
                .history
                .snapshot(self.host.hub.connections() as i64),
        }
    }
}

impl Links {
    /// Another node's stats, within `limit` (connecting included).
    pub async fn stats(
        &self,
        cluster: &Cluster,
        id: EndpointId,
        limit: Duration,
    ) -> anyhow::Result<Stats> {
        let sent = Instant::now();
        let asked = tokio::time::timeout(limit, async {
            let conn = self.get(cluster, id).await?;
            self.ask(id, &conn, &Request::Stats).await
        })
        .await;
        match asked {
            Ok(Ok(Response::Stats(s))) => Ok(*s),
            Ok(Ok(other)) => anyhow::bail!("unexpected answer {other:?}"),
            Ok(Err(e)) => {
                self.forget(&id).await;
                Err(e)
            }
            Err(_) => {
                self.forget_if_silent(&id, sent).await;
                anyhow::bail!("stats request timed out")
            }
        }
    }
}

/// A replica's route to the primary.
pub struct Forwarder(pub Weak<Cluster>);

impl Forward for Forwarder {
    fn forward(&self, cmd: AnyCommand) -> Forwarded<'_> {
        Box::pin(async move {
            let Some(cluster) = self.0.upgrade() else {
                return Err(CmdError::Unavailable("the node is stopping".into()));
            };
            let start = Instant::now();
            // The primary the command was handed to, once it was.
            let sent_to = std::sync::Mutex::new(None);
            let result =
                match tokio::time::timeout(FORWARD_TIMEOUT, forward(&cluster, cmd, &sent_to)).await
                {
                    Ok(r) => r,
                    Err(_) => {
                        let sent = sent_to.write_lock().take();
                        if let Some(id) = sent {
                            // The link that swallowed it is not trusted again
                            // unless it still answers: the next write connects
                            // afresh, and fails at once as never sent if the
                            // primary is gone.
                            cluster.links.forget_if_silent(&id, start).await;
                        }
                        Err(timed_out(sent.is_some()))
                    }
                };
            let m = &cluster.host().metrics;
            m.forwarded_writes.fetch_add(1, Ordering::Relaxed);
            if matches!(result, Err(CmdError::Unavailable(_) | CmdError::Unknown(_))) {
                m.forwarded_errors.fetch_add(1, Ordering::Relaxed);
            } else {
                m.forwarded_latency.observe(start.elapsed());
            }
            result
        })
    }
}

/// The error of a forwarded write that ran out of time: if it was never
/// sent, it did not happen; once sent, the primary may have applied it
/// (a primary hung for 10 s applies it when it wakes), and the client must
/// not be told it failed.
fn timed_out(sent: bool) -> CmdError {
    if sent {
        CmdError::Unknown(
            "the primary did not answer in time: the write may or may not have been applied; \
             retry with the same Idempotency-Key"
                .into(),
        )
    } else {
        CmdError::Unavailable(
            "the primary could not be reached in time: nothing was written; retry".into(),
        )
    }
}

/// Finds the primary's endpoint id.
async fn primary(cluster: &Cluster) -> Result<EndpointId, CmdError> {
    let name = cluster.litefs.as_ref().and_then(|fs| fs.primary());
    let row = super::membership::primary_row(&cluster.host().reader, name.as_deref())
        .map_err(|e| CmdError::Unavailable(format!("reading the nodes table: {e}")))?
        .ok_or_else(|| CmdError::Unavailable("no primary is known yet; retry".into()))?;
    let id = cluster
        .endpoint_id(&row.endpoint_id)
        .ok_or_else(|| CmdError::Internal("a nodes row has a bad endpoint id".into()))?;
    if id == cluster.id {
        return Err(CmdError::Unavailable(
            "this node is named primary but is not writing yet; retry".into(),
        ));
    }
    let addrs = row.addrs();
    if !addrs.is_empty() {
        cluster
            .lookup
            .add_endpoint_info(iroh::EndpointAddr::from_parts(
                id,
                addrs.into_iter().map(iroh::TransportAddr::Ip),
            ));
    }
    Ok(id)
}

async fn forward(
    cluster: &Cluster,
    cmd: AnyCommand,
    sent_to: &std::sync::Mutex<Option<EndpointId>>,
) -> Result<serde_json::Value, CmdError> {
    let mut pause = Duration::from_millis(50);
    loop {
        // Reaching the primary may be retried until the deadline: nothing
        // has been sent yet.
        let id = primary(cluster).await;
        let conn = match id {
            Ok(id) => cluster
                .links
                .get(cluster, id)
                .await
                .map(|c| (id, c))
                .map_err(|e| CmdError::Unavailable(format!("the primary cannot be reached: {e}"))),
            Err(e) => Err(e),
        };
        let (id, conn) = match conn {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "no route to the primary yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
                continue;
            }
        };
        // Once sent, the command is not re-sent: it may have committed.
        *sent_to.write_lock() = Some(id);
        match cluster
            .links
            .ask(id, &conn, &Request::Write(cmd.clone()))
            .await
        {
            Ok(Response::Written { result, position }) => {
                if let Err(CmdError::Unavailable(m)) = &result
                    && m.contains("not the primary")
                    && cluster.role() == Role::Replica
                {
                    // The primary moved; the command did not run. Try the
                    // new one.
                    *sent_to.write_lock() = None;
                    tokio::time::sleep(pause).await;
                    continue;
                }
                if let (Some(fs), Some(pos)) = (&cluster.litefs, position)
                    && !fs.wait_for(pos, CATCH_UP_TIMEOUT).await
                {
                    tracing::warn!(position = pos, "the local copy did not catch up in time");
                }
                return result;
            }
            Ok(other) => {
                return Err(CmdError::Internal(format!(
                    "unexpected answer from the primary: {other:?}"
                )));
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), primary = %id.fmt_short(), "lost the primary during a forwarded write");
                cluster.links.forget(&id).await;
                return Err(CmdError::Unknown(format!(
                    "lost the primary during the write, which may or may not have been \
                     applied; retry with the same Idempotency-Key: {e}"
                )));
            }
        }
    }
}
