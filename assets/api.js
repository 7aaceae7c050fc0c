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

function errorFrom(status, data, fallback) {
  const e = data?.error;
  const message = sentenceCase(e?.message || fallback || `Request failed (${status})`);
  return new ApiError(status, e?.code || `http_${status}`, message);
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
  let res;
  try {
    res = await fetch(path, opts);
  } catch {
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
