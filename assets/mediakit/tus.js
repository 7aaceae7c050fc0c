// Resumable uploads: a tus 1.0 client (creation, termination; docs/media.md)
// for POST/HEAD/PATCH/DELETE on /api/uploads.
//
// The protocol's decisions are plain functions (which bytes go next, how
// long to wait before retrying, which headers a request carries, what a
// status means), so they are tested in node without a network. TusUpload
// is the loop around them; it talks through a `transport`, a function
// that makes one HTTP request: XMLHttpRequest in the browser, because only
// XHR reports upload progress, and fetch in node tests.
//
// A file is sent in chunks (one PATCH each) so that a dropped connection
// costs at most one chunk. After any network error, 5xx, 408, 409, 423 or
// 429 the upload HEADs for the offset the server really holds and goes on
// from there, after a growing pause (cut short when the browser comes back
// online). It never gives up on its own: only a 4xx that is about the file
// (too large, over quota, wrong format, gone) ends it, with the server's
// message. Its URL is kept in sessionStorage under the file's fingerprint,
// so choosing the same file again after a reload resumes it.

export const TUS_VERSION = '1.0.0';
/** Bytes per PATCH: big enough that request overhead is small, small enough that a drop loses little. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
export const BACKOFF_FIRST_MS = 500;
export const BACKOFF_MAX_MS = 15000;
/** A PATCH with no progress this long is on a dead connection (server idles out at 30 s). */
export const STALL_MS = 45000;
/** Where upload URLs are remembered (sessionStorage keys start with this). */
export const STORAGE_PREFIX = 'kith.tus:';
const OFFSET_TYPE = 'application/offset+octet-stream';

/** The next chunk to send from `offset`: [start, end), or null when all is sent. */
export function nextChunk(offset, size, chunkBytes = CHUNK_BYTES) {
  if (offset >= size) return null;
  return [offset, Math.min(size, offset + Math.max(1, chunkBytes))];
}

/** Every chunk from `offset` to the end, in order (what an undisturbed upload sends). */
export function planChunks(size, chunkBytes = CHUNK_BYTES, offset = 0) {
  const out = [];
  for (let c = nextChunk(offset, size, chunkBytes); c; c = nextChunk(c[1], size, chunkBytes)) out.push(c);
  return out;
}

/** How long to wait before retry number `attempt` (0-based): 0.5 s, 1 s, 2 s, 4 s … at most 15 s. */
export function backoffDelay(attempt, first = BACKOFF_FIRST_MS, max = BACKOFF_MAX_MS) {
  const n = Math.max(0, Math.min(30, attempt | 0));
  return Math.min(max, first * 2 ** n);
}

function base64Utf8(s) {
  let bin = '';
  for (const b of new TextEncoder().encode(s)) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** `Upload-Metadata`: `key base64(value)` pairs, comma-separated; empty values are left out. */
export function encodeMetadata(meta) {
  return Object.entries(meta)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k} ${base64Utf8(String(v))}`)
    .join(',');
}

/**
 * The headers of one tus request. `kind` is create | head | patch | delete;
 * create takes { length, metadata }, patch takes { offset }.
 */
export function tusHeaders(kind, { length, metadata, offset } = {}) {
  const h = { 'Tus-Resumable': TUS_VERSION };
  switch (kind) {
    case 'create':
      h['Upload-Length'] = String(length);
      if (metadata) {
        const m = encodeMetadata(metadata);
        if (m) h['Upload-Metadata'] = m;
      }
      break;
    case 'patch':
      h['Upload-Offset'] = String(offset);
      h['Content-Type'] = OFFSET_TYPE;
      break;
    case 'head':
    case 'delete':
      break;
    default:
      throw new Error(`unknown tus request ${kind}`);
  }
  return h;
}

/**
 * Who a file is, as far as resuming goes: the same name, size and
 * modification time is taken for the same file. `scope` (the signed-in
 * user) keeps one person's uploads from being offered to another.
 */
export function fingerprint(file, scope = '') {
  return `${STORAGE_PREFIX}${scope}:${file.name || 'blob'}:${file.size}:${file.lastModified ?? 0}`;
}

/**
 * What a status means for the upload: 'ok' (2xx), 'retry' (no answer, a
 * server-side hiccup, a lock or a wrong offset: HEAD and go on) or 'fatal'
 * (the server refuses this file; no retry will change that).
 */
export function classify(status) {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 0 || status >= 500) return 'retry';
  if (status === 408 || status === 409 || status === 423 || status === 429) return 'retry';
  return 'fatal';
}

/** A refusal's message for people: the server's own when it sent one. */
export function errorMessage(status, bodyText) {
  let message = null;
  if (bodyText) {
    try {
      const e = JSON.parse(bodyText)?.error;
      message = typeof e === 'string' ? e : e?.message || null;
    } catch {
      // not JSON
    }
  }
  if (message) return message;
  switch (status) {
    case 404: return 'The upload is gone (it expired or was cancelled). Add the file again.';
    case 413: return 'This file is too large, or your storage is full.';
    case 415: return 'This file format is not supported.';
    case 422: return 'This file could not be read: it may be damaged.';
    case 401: return 'You are signed out. Sign in and add the file again.';
    default: return `The upload failed (${status}).`;
  }
}

/** Where `Location` points: absolute when the endpoint is (node), else as given (same origin). */
export function resolveLocation(location, endpoint) {
  if (/^https?:\/\//i.test(endpoint)) return new URL(location, endpoint).href;
  return location;
}

/** The upload's id (also its media item's id): the URL's last path segment. */
export function uploadId(url) {
  const path = url.replace(/[?#].*$/, '').replace(/\/+$/, '');
  return decodeURIComponent(path.slice(path.lastIndexOf('/') + 1));
}

/** No answer from the server (`network`), or cancelled (`aborted`). */
export class TransportError extends Error {
  constructor(kind, message) {
    super(message);
    this.name = 'TransportError';
    this.kind = kind;
  }
}

/** A refusal from the server: `status`, and a `message` for people. */
export class UploadError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'UploadError';
    this.status = status;
  }
}

/**
 * One request by XMLHttpRequest (same origin, so the session cookie goes
 * along). Resolves to { status, header(name), text } for any answer;
 * rejects with a TransportError when there is none.
 */
export function xhrTransport({ method, url, headers, body, signal, onUploadProgress }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    if (body && onUploadProgress) xhr.upload.onprogress = (e) => onUploadProgress(e.loaded);
    xhr.onload = () => resolve({ status: xhr.status, header: (n) => xhr.getResponseHeader(n), text: xhr.responseText });
    xhr.onerror = () => reject(new TransportError('network', 'no answer from the server'));
    xhr.ontimeout = xhr.onerror;
    xhr.onabort = () => reject(new TransportError('aborted', 'cancelled'));
    if (signal) {
      if (signal.aborted) {
        reject(new TransportError('aborted', 'cancelled'));
        return;
      }
      signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.send(body ?? null);
  });
}

/** One request by fetch: no upload progress (a chunk counts when answered). For node and tests. */
export async function fetchTransport({ method, url, headers, body, signal }) {
  let res;
  try {
    res = await fetch(url, { method, headers, body: body ?? undefined, signal, credentials: 'same-origin' });
  } catch (e) {
    if (signal?.aborted) throw new TransportError('aborted', 'cancelled');
    throw new TransportError('network', e?.message || 'no answer from the server');
  }
  const text = method === 'HEAD' ? '' : await res.text().catch(() => '');
  return { status: res.status, header: (n) => res.headers.get(n), text };
}

function defaultStorage() {
  try {
    return globalThis.sessionStorage || null;
  } catch {
    return null;
  }
}

function defaultNetwork() {
  const w = globalThis.window;
  return {
    isOnline: () => globalThis.navigator?.onLine !== false,
    onOnline(fn) {
      if (!w?.addEventListener) return () => {};
      w.addEventListener('online', fn);
      return () => w.removeEventListener('online', fn);
    },
  };
}

/**
 * One file's resumable upload.
 *
 * options: endpoint ('/api/uploads'); transport (xhrTransport); chunkBytes;
 * stallMs; backoff(attempt) -> ms; storage ({ getItem, setItem,
 * removeItem }, sessionStorage by default, null for none); scope (the user,
 * for fingerprints); metadata ({ filename, filetype }, from the file by
 * default); network ({ isOnline(), onOnline(fn) -> off }); onProgress(sent,
 * total): acked bytes plus the chunk in flight; onState(state): uploading |
 * retrying | offline (waiting to retry while the browser is offline) |
 * failed | done.
 */
export class TusUpload {
  constructor(file, options = {}) {
    this.file = file;
    this.endpoint = options.endpoint || '/api/uploads';
    this.transport = options.transport || xhrTransport;
    this.chunkBytes = options.chunkBytes || CHUNK_BYTES;
    this.stallMs = options.stallMs || STALL_MS;
    this.backoff = options.backoff || backoffDelay;
    this.storage = options.storage === undefined ? defaultStorage() : options.storage;
    this.network = options.network || defaultNetwork();
    this.metadata = options.metadata || { filename: file.name || '', filetype: file.type || '' };
    this.onProgress = options.onProgress || (() => {});
    this.onState = options.onState || (() => {});
    this.key = fingerprint(file, options.scope || '');
    this.url = null;
    this.offset = 0;
    this.lastError = null;
    this.attempts = 0;
    this.aborted = false;
    this.state = 'idle';
    this.promise = null;
    this.controller = null;
    this.wake = null;
  }

  /** Starts (once); resolves to { url, id } when the server holds every byte. */
  start() {
    if (!this.promise) this.promise = this.#run();
    return this.promise;
  }

  /** Stops, and deletes what the server holds of the upload (best effort). */
  async abort() {
    if (this.aborted) return;
    this.aborted = true;
    this.controller?.abort();
    this.wake?.();
    this.#forget();
    if (this.url) {
      try {
        await this.transport({ method: 'DELETE', url: this.url, headers: tusHeaders('delete') });
      } catch {
        // the server's sweep removes it within a day
      }
    }
  }

  #setState(s) {
    if (this.state === s) return;
    this.state = s;
    this.onState(s);
  }

  #remembered() {
    try {
      return this.storage?.getItem(this.key) || null;
    } catch {
      return null;
    }
  }

  #remember(url) {
    try {
      this.storage?.setItem(this.key, url);
    } catch {
      // storage full or disabled
    }
  }

  #forget() {
    try {
      this.storage?.removeItem(this.key);
    } catch {
      // as above
    }
  }

  /** One request, cancelled by abort() or after `stallMs` without progress. */
  async #request(method, url, headers, body, onUploadProgress) {
    const controller = new AbortController();
    this.controller = controller;
    let stalled = false;
    let timer = null;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        controller.abort();
      }, this.stallMs);
    };
    arm();
    try {
      return await this.transport({
        method, url, headers, body, signal: controller.signal,
        onUploadProgress: (n) => {
          arm();
          if (onUploadProgress) onUploadProgress(n);
        },
      });
    } catch (e) {
      if (stalled && !this.aborted) throw new TransportError('network', 'the connection stalled');
      throw e;
    } finally {
      clearTimeout(timer);
      if (this.controller === controller) this.controller = null;
    }
  }

  #check(res) {
    const kind = classify(res.status);
    if (kind === 'ok') return;
    const err = new UploadError(res.status, errorMessage(res.status, res.text));
    err.retry = kind === 'retry';
    throw err;
  }

  async #create() {
    const res = await this.#request('POST', this.endpoint, tusHeaders('create', { length: this.file.size, metadata: this.metadata }));
    this.#check(res);
    const loc = res.header('Location');
    if (!loc) throw new UploadError(res.status, 'The server did not say where to upload.');
    this.url = resolveLocation(loc, this.endpoint);
    this.#remember(this.url);
    return 0;
  }

  async #head() {
    const res = await this.#request('HEAD', this.url, tusHeaders('head'));
    this.#check(res);
    const offset = Number(res.header('Upload-Offset'));
    if (!Number.isFinite(offset) || offset < 0) throw new UploadError(res.status, 'The server gave no upload offset.');
    return offset;
  }

  async #patch(offset) {
    const [start, end] = nextChunk(offset, this.file.size, this.chunkBytes);
    const res = await this.#request('PATCH', this.url, tusHeaders('patch', { offset }), this.file.slice(start, end), (n) => {
      this.onProgress(Math.min(end, start + n), this.file.size);
    });
    this.#check(res);
    const next = Number(res.header('Upload-Offset'));
    // A server that leaves out the header is taken at its word that the chunk is in.
    return Number.isFinite(next) && next >= offset ? next : end;
  }

  /** Waits `ms`, or less when the browser comes back online or the upload is aborted. */
  #pause(ms) {
    return new Promise((resolve) => {
      let off = () => {};
      const done = () => {
        clearTimeout(t);
        off();
        this.wake = null;
        resolve();
      };
      const t = setTimeout(done, ms);
      off = this.network.onOnline(done);
      this.wake = done;
    });
  }

  async #run() {
    const size = this.file.size;
    this.url = this.#remembered();
    const fromStorage = !!this.url;
    /** The offset to send from; null: ask the server (HEAD). */
    let offset = this.url ? null : 0;
    let progressed = false;
    this.#setState('uploading');
    while (!this.aborted) {
      try {
        if (!this.url) offset = await this.#create();
        if (offset === null) offset = await this.#head();
        this.offset = offset;
        this.onProgress(offset, size);
        if (offset >= size) break;
        const before = offset;
        offset = await this.#patch(offset);
        this.offset = offset;
        this.onProgress(offset, size);
        if (offset > before) {
          progressed = true;
          this.attempts = 0;
          this.lastError = null;
          this.#setState('uploading');
        }
      } catch (e) {
        if (this.aborted) break;
        const retry = e instanceof TransportError || e.retry;
        if (!retry) {
          // A remembered URL that is gone (expired): start over instead of failing.
          if (e.status === 404 && fromStorage && !progressed && this.url) {
            this.#forget();
            this.url = null;
            offset = 0;
            continue;
          }
          this.#forget();
          this.#setState('failed');
          throw e;
        }
        this.lastError = e;
        offset = this.url ? null : 0;
        this.#setState(this.network.isOnline() ? 'retrying' : 'offline');
        await this.#pause(this.backoff(this.attempts));
        this.attempts += 1;
      }
    }
    if (this.aborted) throw new UploadError(0, 'Upload cancelled.');
    this.#forget();
    this.#setState('done');
    return { url: this.url, id: uploadId(this.url) };
  }
}
