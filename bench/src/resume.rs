//! Coming back (`--only resume`): a person with 50 conversations is away
//! while their friends go on talking, then reconnects. One `resume` with
//! the token they were last given, against what a client without it must
//! do: a `sync` per conversation (all sent at once, or one after another
//! as a simple client would). Measures the time of the exchange and the
//! bytes each side sends.
//!
//! The absence is fast-forwarded: the traffic of ten minutes (a message a
//! minute in every conversation, with some edits and reactions) is sent
//! as quickly as the friends' sockets take it. What resume costs depends
//! on how much was missed, not on the wall-clock time; the token's age only
//! matters past a day, when the client is told to load afresh.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::link::Ws;
use crate::realtime::{Proto, befriend, connect, connect_hello, signup};
use crate::server::{Server, call};

const CONVERSATIONS: usize = 50;
/// Ten minutes of a message a minute in each conversation.
const MESSAGES_EACH: usize = 10;
/// Of those, edited afterwards and reacted to by the away user's friend.
const EDITS_EACH: usize = 1;
const REACTIONS_EACH: usize = 2;
/// Measured exchanges per way of catching up; figures are medians.
const RUNS: usize = 5;
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(60);

/// One catching-up exchange: its time and traffic, and the items it
/// brought (messages and events).
#[derive(Clone, Copy, Default)]
struct Exchange {
    micros: u64,
    frames_out: usize,
    bytes_out: usize,
    frames_in: usize,
    bytes_in: usize,
    items: usize,
    notifications: usize,
}

/// Reads frames until `done` says the exchange is over; counts what came.
async fn read_until(
    ws: &mut Ws,
    x: &mut Exchange,
    mut done: impl FnMut(&Value) -> bool,
) -> anyhow::Result<()> {
    loop {
        let m = tokio::time::timeout(EXCHANGE_TIMEOUT, ws.next())
            .await
            .context("no answer in 60 s")?
            .context("closed")??;
        let Message::Text(t) = m else { continue };
        x.frames_in += 1;
        x.bytes_in += t.len();
        let v: Value = serde_json::from_str(&t)?;
        match v["type"].as_str() {
            Some("message" | "event") => x.items += 1,
            Some("notification") => x.notifications += 1,
            Some("error") => bail!("error frame: {t}"),
            _ => {}
        }
        if done(&v) {
            return Ok(());
        }
    }
}

async fn send(ws: &mut Ws, x: &mut Exchange, frame: Value) -> anyhow::Result<()> {
    let text = frame.to_string();
    x.frames_out += 1;
    x.bytes_out += text.len();
    ws.send(Message::text(text)).await?;
    Ok(())
}

/// `resume` with `token`: one frame out, everything missed, `resumed`.
async fn by_resume(ws: &mut Ws, token: &str) -> anyhow::Result<Exchange> {
    let mut x = Exchange::default();
    let t = Instant::now();
    send(ws, &mut x, json!({"type": "resume", "token": token})).await?;
    let mut full = false;
    read_until(ws, &mut x, |v| {
        full = v["full"] == true;
        v["type"] == "resumed"
    })
    .await?;
    x.micros = t.elapsed().as_micros() as u64;
    anyhow::ensure!(!full, "resume answered full: the bench missed too much");
    Ok(x)
}

/// A `sync` per conversation from the seq last seen in each; `pipelined`
/// sends them all before reading, otherwise each waits for its `synced`.
async fn by_sync(ws: &mut Ws, last: &[(String, i64)], pipelined: bool) -> anyhow::Result<Exchange> {
    let mut x = Exchange::default();
    let t = Instant::now();
    let frame =
        |(c, seq): &(String, i64)| json!({"type": "sync", "conversation_id": c, "after_seq": seq});
    if pipelined {
        for l in last {
            send(ws, &mut x, frame(l)).await?;
        }
        let mut synced = 0;
        read_until(ws, &mut x, |v| {
            synced += usize::from(v["type"] == "synced");
            synced == last.len()
        })
        .await?;
    } else {
        for l in last {
            send(ws, &mut x, frame(l)).await?;
            read_until(ws, &mut x, |v| v["type"] == "synced").await?;
        }
    }
    x.micros = t.elapsed().as_micros() as u64;
    Ok(x)
}

/// Sends `frame` on a friend's socket and waits for its ack's seq.
async fn acked(ws: &mut Ws, frame: Value) -> anyhow::Result<i64> {
    ws.send(Message::text(frame.to_string())).await?;
    loop {
        let m = tokio::time::timeout(EXCHANGE_TIMEOUT, ws.next())
            .await
            .context("no ack in 60 s")?
            .context("closed")??;
        let Message::Text(t) = m else { continue };
        let v: Value = serde_json::from_str(&t)?;
        match v["type"].as_str() {
            Some("ack") => return v["seq"].as_i64().context("seq"),
            Some("error") => bail!("error frame: {t}"),
            _ => {}
        }
    }
}

/// What a friend says while the away user is gone.
async fn talk(base: String, cookie: String, conversation: String, k: usize) -> anyhow::Result<()> {
    let mut ws = connect(&base, &cookie).await?;
    let id = |i: usize, what: &str| format!("f{k}-{what}{i}");
    let mut seqs = Vec::new();
    for i in 0..MESSAGES_EACH {
        let body = format!("minute {i}: news from friend {k}, as long as a short chat line");
        seqs.push(
            acked(
                &mut ws,
                json!({"type": "send", "conversation_id": conversation, "client_msg_id": id(i, "m"), "body": body}),
            )
            .await?,
        );
    }
    for (i, seq) in seqs.iter().take(EDITS_EACH).enumerate() {
        acked(
            &mut ws,
            json!({"type": "edit", "conversation_id": conversation, "client_msg_id": id(i, "e"), "seq": seq, "body": "said better"}),
        )
        .await?;
    }
    for (i, seq) in seqs.iter().rev().take(REACTIONS_EACH).enumerate() {
        acked(
            &mut ws,
            json!({"type": "react", "conversation_id": conversation, "client_msg_id": id(i, "r"), "seq": seq, "emoji": "👍"}),
        )
        .await?;
    }
    let _ = ws.close(None).await;
    Ok(())
}

fn median(xs: &mut [Exchange]) -> Exchange {
    xs.sort_by_key(|x| x.micros);
    xs[xs.len() / 2]
}

pub async fn run(opts: &crate::Opts) -> anyhow::Result<()> {
    let server = Server::start(opts, &["--no-webtransport"]).await?;
    let result = on(&server).await;
    server.stop().await;
    let rows = result?;
    println!("## Coming back: one `resume` against a `sync` per conversation\n");
    println!(
        "One kith process (release build, `--no-webtransport`) on loopback. A user with {CONVERSATIONS} conversations (one friend each) disconnects; meanwhile each friend sends {MESSAGES_EACH} messages (ten minutes of one a minute, fast-forwarded), edits {EDITS_EACH} and reacts to {REACTIONS_EACH}: {} items missed. The user then reconnects and catches up on a fresh WebSocket, {RUNS} times each way from the same starting point; medians. Time is from the first frame written to the last frame of the answer read (`resumed`, or the last `synced`); bytes are the JSON text of the frames. `resume` also brings the notifications missed; syncs do not, and only cover the conversations the client already knew of, so the last row adds what a client without resume also asks: `GET /api/conversations` (which conversations moved, or are new) and `GET /api/notifications`, over HTTP/1.1 on one kept-alive connection (bytes are the request line and cookie, and the answers' bodies).\n",
        CONVERSATIONS * (MESSAGES_EACH + EDITS_EACH + REACTIONS_EACH)
    );
    println!(
        "| way of catching up | ms | frames or requests sent | bytes sent | frames or answers received | KiB received | items | notifications |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, x) in rows {
        println!(
            "| {name} | {:.1} | {} | {} | {} | {:.1} | {} | {} |",
            x.micros as f64 / 1000.0,
            x.frames_out,
            x.bytes_out,
            x.frames_in,
            x.bytes_in as f64 / 1024.0,
            x.items,
            x.notifications
        );
    }
    println!();
    Ok(())
}

async fn on(server: &Server) -> anyhow::Result<Vec<(&'static str, Exchange)>> {
    use reqwest::Method;
    let base = &server.base;
    let c = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let me = signup(&c, base, &["away".to_string()]).await?.remove(0);
    let names: Vec<String> = (0..CONVERSATIONS).map(|i| format!("friend{i}")).collect();
    let friends = signup(&c, base, &names).await?;
    let conversations: Vec<anyhow::Result<String>> = stream::iter(0..CONVERSATIONS)
        .map(|k| {
            let (c, me, friends, names) = (&c, &me, &friends, &names);
            async move {
                befriend(c, base, me, &friends[k], &names[k]).await?;
                let r = call(
                    c,
                    Method::POST,
                    format!("{base}/api/conversations"),
                    Some(me),
                    Some(json!({"members": [names[k]]})),
                )
                .await?;
                Ok(r["id"].as_str().context("conversation id")?.to_string())
            }
        })
        .buffered(8)
        .collect()
        .await;
    let conversations: Vec<String> = conversations.into_iter().collect::<anyhow::Result<_>>()?;

    // The away user's last connection: where it stood when it went.
    let token = hello_token(base, &me).await?;
    let last: Vec<(String, i64)> = conversations.iter().map(|c| (c.clone(), 0)).collect();

    let talks: Vec<anyhow::Result<()>> = stream::iter(0..CONVERSATIONS)
        .map(|k| {
            talk(
                base.clone(),
                friends[k].clone(),
                conversations[k].clone(),
                k,
            )
        })
        .buffer_unordered(10)
        .collect()
        .await;
    talks.into_iter().collect::<anyhow::Result<()>>()?;

    let mut rows = Vec::new();
    let ways = [
        "one `resume`",
        "a `sync` per conversation, all sent at once",
        "a `sync` per conversation, one after another",
        "the conversation list, the notifications, then a `sync` per conversation at once",
    ];
    for (w, name) in ways.into_iter().enumerate() {
        let mut xs = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let mut ws = connect(base, &me).await?;
            xs.push(match w {
                0 => by_resume(&mut ws, &token).await?,
                1 => by_sync(&mut ws, &last, true).await?,
                2 => by_sync(&mut ws, &last, false).await?,
                _ => {
                    let t = Instant::now();
                    let mut x = Exchange::default();
                    for path in ["/api/conversations", "/api/notifications"] {
                        let r = c
                            .get(format!("{base}{path}"))
                            .header("cookie", &me)
                            .send()
                            .await?
                            .error_for_status()?;
                        let body = r.bytes().await?;
                        x.frames_out += 1;
                        x.bytes_out += path.len() + me.len();
                        x.frames_in += 1;
                        x.bytes_in += body.len();
                        if path == "/api/notifications" {
                            let v: Value = serde_json::from_slice(&body)?;
                            x.notifications += v["items"].as_array().map_or(0, Vec::len);
                        }
                    }
                    let s = by_sync(&mut ws, &last, true).await?;
                    Exchange {
                        micros: t.elapsed().as_micros() as u64,
                        frames_out: x.frames_out + s.frames_out,
                        bytes_out: x.bytes_out + s.bytes_out,
                        frames_in: x.frames_in + s.frames_in,
                        bytes_in: x.bytes_in + s.bytes_in,
                        items: s.items,
                        notifications: x.notifications,
                    }
                }
            });
            let _ = ws.close(None).await;
        }
        let missed = CONVERSATIONS * (MESSAGES_EACH + EDITS_EACH + REACTIONS_EACH);
        anyhow::ensure!(
            xs.iter().all(|x| x.items >= missed),
            "{name} brought fewer items than the {missed} missed"
        );
        rows.push((name, median(&mut xs)));
    }
    Ok(rows)
}

/// Connects as the user, reads the hello's resume token and goes away.
async fn hello_token(base: &str, cookie: &str) -> anyhow::Result<String> {
    let (mut ws, hello) = connect_hello(Proto::Kith, base, cookie).await?;
    let _ = ws.close(None).await;
    Ok(hello["resume_token"]
        .as_str()
        .context("resume_token")?
        .to_string())
}
