// The realtime connection (docs/protocol.md, version 1).
//
// Transport: WebTransport when the browser has it and the server offers it
// with certificate hashes, unless WebSocket is forced
// (localStorage 'kith.transport' = 'websocket', or ?transport=websocket);
// WebSocket otherwise, and whenever WebTransport fails to connect.
// A closed connection is reopened after an exponential backoff with
// "equal jitter" (half the ceiling plus a random share of the other half;
// base 500 ms, capped at 2 s while the page is on screen and 5 s while it
// is hidden), so a server that comes back is found within about two
// seconds while its clients still arrive spread out; one the server closed
// because it is restarting (code 1012) within a second, whatever the
// backoff had grown to. Waiting stops at once when the browser says the
// network is back (`online`), when the page comes back on screen, or when
// the reader asks (retryNow). The owner re-syncs on every `hello`. One the
// server closed because the session ended (code 4000, "signed out" or
// "banned") is not reopened: the owner is told (`onKicked`) and decides,
// reopening with reconnectNow() when the session turns out to be alive (a
// new password on this device renews its session id).

import { api } from './api.js';

const BASE_MS = 500;
/** The longest wait between tries while the page is on screen... */
const VISIBLE_CAP_MS = 2000;
/** ...and while it is hidden (the browser throttles its timers then anyway). */
const HIDDEN_CAP_MS = 5000;
// The close code of a server that is restarting: reconnect (elsewhere) soon.
const RESTART_CODE = 1012;
// The close code of a connection whose session ended; the reason says why.
const KICKED_CODE = 4000;
// Reconnects after a restart are spread over this long, so that a node's
// clients do not all arrive at the same instant.
const RESTART_SPREAD_MS = 1000;
const WT_READY_TIMEOUT_MS = 6000;
const PING_EVERY_MS = 20000;
const SILENCE_LIMIT_MS = 50000;

const encoder = new TextEncoder();

/**
 * How long to wait before the next try, `attempts` tries after the last
 * open connection: half the exponential ceiling (base 500 ms, capped at
 * 2 s on screen, 5 s hidden) plus a random share of the other half, so
 * clients that lost the same server spread their tries out. After a
 * restart (code 1012): anywhere within a second.
 */
export function retryDelay(attempts, { restart = false, visible = true, random = Math.random } = {}) {
  if (restart) return random() * RESTART_SPREAD_MS;
  const cap = visible ? VISIBLE_CAP_MS : HIDDEN_CAP_MS;
  const ceiling = Math.min(cap, BASE_MS * 2 ** Math.max(0, attempts));
  return ceiling / 2 + random() * (ceiling / 2);
}

function pageVisible() {
  return typeof document === 'undefined' || document.visibilityState !== 'hidden';
}

export function websocketForced() {
  try {
    if (localStorage.getItem('kith.transport') === 'websocket') return true;
  } catch {
    // storage may be unavailable
  }
  return new URLSearchParams(location.search).get('transport') === 'websocket';
}

function base64ToBytes(b64) {
  const std = b64.replace(/-/g, '+').replace(/_/g, '/');
  const padded = std + '='.repeat((4 - (std.length % 4)) % 4);
  const bin = atob(padded);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i += 1) out[i] = bin.charCodeAt(i);
  return out;
}

function timeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} timed out`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

export class Realtime {
  /**
   * @param {object} h
   * @param {(frame: object) => void} h.onFrame every server frame
   * @param {(transport: string, state: string, info: { retryAt: number }) => void} h.onStatus
   *   `retryAt`: while closed, when the next try starts (ms since the epoch; 0: none planned)
   * @param {() => void} h.onClose the connection was lost
   * @param {(reason: string) => void} [h.onKicked] the server ended it with code 4000
   */
  constructor({ onFrame, onStatus, onClose, onKicked }) {
    this.onFrame = onFrame;
    this.onStatus = onStatus;
    this.onClose = onClose || (() => {});
    this.onKicked = onKicked || null;
    this.gen = 0;
    this.closedGen = -1;
    this.conn = null;
    this.open = false;
    this.attempts = 0;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.stopped = true;
    this.wtBroken = false;
    this.transport = 'none';
    this.state = 'closed';
    /** While closed: when the next try starts (0: none planned). */
    this.retryAt = 0;
    /** The server ended the session (code 4000): only the owner reopens. */
    this.kicked = false;
    this._online = () => this.retryNow();
    this._visible = () => {
      if (pageVisible()) this.retryNow();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.kicked = false;
    window.addEventListener('online', this._online);
    if (typeof document !== 'undefined') document.addEventListener('visibilitychange', this._visible);
    this._connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this._online);
    if (typeof document !== 'undefined') document.removeEventListener('visibilitychange', this._visible);
    clearTimeout(this.retryTimer);
    this.retryAt = 0;
    this._teardown();
    this.gen += 1;
    this._status('none', 'closed');
  }

  /** Drops any wait and connects at once (e.g. the network came back). */
  reconnectNow() {
    clearTimeout(this.retryTimer);
    this.retryAt = 0;
    this.kicked = false;
    this.attempts = 0;
    if (!this.conn) this._connect();
  }

  /**
   * Stops waiting and tries at once, when it is worth it: the network
   * came back, the page came back on screen, or (`force`) the reader
   * pressed "Retry now", which also gives up a try still under way. Does
   * nothing while connected, after the server ended the session (the
   * owner decides then), or when stopped.
   */
  retryNow({ force = false } = {}) {
    if (this.stopped || this.kicked || this.conn) return false;
    if (this.state === 'connecting' && !force) return false;
    this.reconnectNow();
    return true;
  }

  /**
   * Replaces the connection with a fresh one at once: the server announces
   * presence only on connect, so this is how new friends' presence is
   * learned.
   */
  refresh() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryAt = 0;
    this._teardown();
    this.attempts = 0;
    this._connect();
  }

  /** Sends a frame; false when there is no open connection. */
  send(frame) {
    if (!this.conn || !this.open) return false;
    try {
      return this.conn.send(JSON.stringify(frame)) !== false;
    } catch {
      return false;
    }
  }

  _status(transport, state) {
    this.transport = transport;
    this.state = state;
    if (state !== 'closed') this.retryAt = 0;
    this.onStatus(transport, state, { retryAt: this.retryAt });
  }

  async _connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.gen += 1;
    const gen = this.gen;
    const current = () => gen === this.gen && !this.stopped;
    this._status(this.transport, 'connecting');
    let config;
    try {
      config = await api.get('/api/realtime/config');
    } catch (e) {
      if (!current()) return;
      if (e && e.status === 401) return; // signed out; the app handles it
      this._lost(gen);
      return;
    }
    if (!current()) return;
    const wt = config?.webtransport;
    const offered = wt?.url && Array.isArray(wt.cert_hashes) && wt.cert_hashes.length > 0;
    if (offered && 'WebTransport' in window && !websocketForced() && !this.wtBroken) {
      this._status('webtransport', 'connecting');
      try {
        await this._openWebTransport(wt, gen);
        return;
      } catch {
        if (!current()) return;
        // Fall back to WebSocket for the rest of this page's life.
        this.wtBroken = true;
      }
    }
    this._status('websocket', 'connecting');
    this._openWebSocket(config.websocket.url, gen);
  }

  _openWebSocket(url, gen) {
    let ws;
    try {
      ws = new WebSocket(url || `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    } catch {
      this._lost(gen);
      return;
    }
    const conn = {
      kind: 'websocket',
      send: (text) => {
        if (ws.readyState !== WebSocket.OPEN) return false;
        ws.send(text);
        return true;
      },
      close: () => {
        ws.onclose = null;
        ws.onmessage = null;
        ws.onerror = null;
        try {
          ws.close(1000, 'bye');
        } catch {
          // already closed
        }
      },
    };
    ws.onopen = () => this._attach(conn, gen);
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') this._text(e.data, gen);
    };
    ws.onerror = () => {};
    ws.onclose = (e) => {
      if (e.code === KICKED_CODE) this._kicked(gen, e.reason);
      else this._lost(gen, e.code === RESTART_CODE);
    };
  }

  async _openWebTransport(wt, gen) {
    const { ticket } = await api.post('/api/realtime/ticket');
    const hashes = wt.cert_hashes.map((c) => ({
      algorithm: c.algorithm || 'sha-256',
      value: base64ToBytes(c.value),
    }));
    const sep = wt.url.includes('?') ? '&' : '?';
    const transport = new WebTransport(`${wt.url}${sep}ticket=${encodeURIComponent(ticket)}`, {
      serverCertificateHashes: hashes,
    });
    transport.closed.catch(() => {});
    try {
      await timeout(transport.ready, WT_READY_TIMEOUT_MS, 'WebTransport handshake');
    } catch (e) {
      try {
        transport.close();
      } catch {
        // never opened
      }
      throw e;
    }
    let stream;
    let writer;
    try {
      stream = await transport.createBidirectionalStream();
      writer = stream.writable.getWriter();
      writer.closed.catch(() => {});
      // The server sees the stream once bytes arrive on it.
      await writer.write(encoder.encode('{"type":"ping"}\n'));
    } catch (e) {
      try {
        transport.close();
      } catch {
        // gone already
      }
      throw e;
    }
    if (gen !== this.gen || this.stopped) {
      try {
        transport.close();
      } catch {
        // gone already
      }
      return;
    }
    const conn = {
      kind: 'webtransport',
      send: (text) => {
        writer.write(encoder.encode(`${text}\n`)).catch(() => this._lost(gen));
        return true;
      },
      close: () => {
        try {
          transport.close({ closeCode: 0, reason: 'bye' });
        } catch {
          // gone already
        }
      },
    };
    this._attach(conn, gen);
    transport.closed.then(
      (info) => {
        if (info?.closeCode === KICKED_CODE) this._kicked(gen, info.reason);
        else this._lost(gen, !!info && info.closeCode === RESTART_CODE);
      },
      () => this._lost(gen),
    );
    this._readStream(stream.readable, gen);
    this._readDatagrams(transport, gen);
  }

  async _readStream(readable, gen) {
    const reader = readable.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) this._text(line, gen);
          nl = buf.indexOf('\n');
        }
      }
    } catch {
      // the stream broke; handled below
    }
    this._lost(gen);
  }

  async _readDatagrams(transport, gen) {
    let reader;
    try {
      reader = transport.datagrams.readable.getReader();
    } catch {
      return;
    }
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this._text(decoder.decode(value), gen);
      }
    } catch {
      // the session ended
    }
  }

  _attach(conn, gen) {
    if (gen !== this.gen || this.stopped) {
      conn.close();
      return;
    }
    this.conn = conn;
    this.open = false;
    this.lastHeard = Date.now();
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        this._lost(gen);
        return;
      }
      this.send({ type: 'ping' });
    }, PING_EVERY_MS);
    // Until `hello` arrives the connection is still opening; frames other
    // than hello are never sent before it, but presence datagrams may
    // overtake it on WebTransport, so they are passed on as they come.
    this.onFrame({ type: '__connected', transport: conn.kind });
  }

  _text(text, gen) {
    if (gen !== this.gen) return;
    this.lastHeard = Date.now();
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    if (frame.type === 'hello') {
      this.open = true;
      this.attempts = 0;
      this._status(this.conn ? this.conn.kind : this.transport, 'open');
    }
    this.onFrame(frame);
  }

  _teardown() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
    const conn = this.conn;
    this.conn = null;
    this.open = false;
    if (conn) conn.close();
  }

  /**
   * The server ended connection `gen` because its session ended: no
   * retry until the owner, told, calls reconnectNow().
   */
  _kicked(gen, reason) {
    if (!this.onKicked) {
      this._lost(gen);
      return;
    }
    if (gen !== this.gen || this.closedGen === gen) return;
    this.closedGen = gen;
    const wasConnected = !!this.conn;
    this._teardown();
    clearTimeout(this.retryTimer);
    this.retryAt = 0;
    this.kicked = true;
    if (this.stopped) return;
    this._status(this.transport, 'closed');
    if (wasConnected) this.onClose();
    this.onKicked(String(reason || ''));
  }

  /**
   * The connection `gen` is gone (or never opened): schedule another.
   * `restart`: the server closed it because it is restarting.
   */
  _lost(gen, restart = false) {
    if (gen !== this.gen || this.closedGen === gen) return;
    this.closedGen = gen;
    const wasConnected = !!this.conn;
    this._teardown();
    if (this.stopped) return;
    if (restart) this.attempts = 0;
    const delay = retryDelay(this.attempts, { restart, visible: pageVisible() });
    this.attempts = Math.min(this.attempts + 1, 16);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._connect(), delay);
    this.retryAt = Date.now() + delay;
    this._status(this.transport, 'closed');
    if (wasConnected) this.onClose();
  }
}
