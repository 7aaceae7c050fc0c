// The HTTP API: JSON over same-origin fetch, errors as ApiError.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Called with every 401 from the API (the session is gone). */
let onUnauthorized = null;
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/**
 * The server's messages start in lower case ("password is too short");
 * every view shows them as a sentence: "Password is too short".
 */
export function sentenceCase(message) {
  const s = String(message ?? '').trim();
  if (!s) return s;
  const [first] = s;
  return first.toLocaleUpperCase() + s.slice(first.length);
}

/** A random id: an `Idempotency-Key`, a chat message's client id. */
export function randomId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function errorFrom(status, data, fallback) {
  const e = data?.error;
  if (e?.code === 'outcome_unknown') {
    // The server's wording is for programs (it names the header).
    return new ApiError(
      status,
      e.code,
      'The server did not confirm this in time. It may have been saved: check before trying again.',
    );
  }
  const message = sentenceCase(e?.message || fallback || `Request failed (${status})`);
  return new ApiError(status, e?.code || `http_${status}`, message);
}

/**
 * A write is sent at most this many times. Each carries one
 * `Idempotency-Key` for all its attempts, so a retry after an answer that
 * never came (a lost connection, a 503 `outcome_unknown` while the cluster
 * changes its primary) is applied at most once.
 */
export const WRITE_ATTEMPTS = 3;
/** The longest pause between attempts, whatever `Retry-After` asks. */
const MAX_PAUSE_MS = 4000;
/** Answers of a server (or a proxy before it) that could not do it now. */
const RETRY_STATUSES = new Set([502, 503, 504]);

let pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Replaces the wait between attempts (tests). */
export function setPause(fn) {
  pause = fn;
}

/** How long to wait before attempt `attempt + 1`: `Retry-After`, else 0.5 s, 1 s, … */
export function retryDelay(res, attempt) {
  const after = Number(res?.headers?.get('retry-after'));
  const ms = Number.isFinite(after) && after > 0 ? after * 1000 : 500 * 2 ** (attempt - 1);
  return Math.min(ms, MAX_PAUSE_MS);
}

async function request(method, path, body, { quiet401 = false } = {}) {
  const opts = {
    method,
    credentials: 'same-origin',
    headers: { accept: 'application/json' },
  };
  if (typeof Blob !== 'undefined' && body instanceof Blob) {
    // Raw bytes (an avatar): sent as they are, typed by the blob.
    opts.headers['content-type'] = body.type || 'application/octet-stream';
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers['content-type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const write = method !== 'GET' && method !== 'HEAD';
  if (write) opts.headers['idempotency-key'] = randomId();
  let res = null;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(path, opts);
    } catch {
      res = null;
    }
    const failed = res === null || RETRY_STATUSES.has(res.status);
    if (!write || !failed || attempt >= WRITE_ATTEMPTS) break;
    await pause(retryDelay(res, attempt));
  }
  if (res === null) {
    throw new ApiError(0, 'network', 'Could not reach the server. Check your connection and try again.');
  }
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = errorFrom(res.status, data, res.statusText);
    if (res.status === 401 && !quiet401 && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const api = {
  get: (path, opts) => request('GET', path, undefined, opts),
  post: (path, body, opts) => request('POST', path, body, opts),
  put: (path, body, opts) => request('PUT', path, body, opts),
  patch: (path, body, opts) => request('PATCH', path, body, opts),
  del: (path, body, opts) => request('DELETE', path, body, opts),
};

/** Builds a query string from an object, skipping null/undefined/''. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== '') u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;
