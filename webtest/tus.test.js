// The resumable upload client: its pure parts, then whole uploads against
// a small tus server made here with node:http, which can drop the
// connection in the middle of a PATCH as a flaky network does.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';

import {
  backoffDelay,
  classify,
  encodeMetadata,
  errorMessage,
  fetchTransport,
  fingerprint,
  nextChunk,
  planChunks,
  resolveLocation,
  TransportError,
  TUS_VERSION,
  TusUpload,
  tusHeaders,
  uploadId,
} from '../assets/mediakit/tus.js';

describe('pure parts', () => {
  test('chunks cover the file once, in order, from any offset', () => {
    assert.deepEqual(planChunks(10, 4), [[0, 4], [4, 8], [8, 10]]);
    assert.deepEqual(planChunks(10, 4, 7), [[7, 10]], 'after a drop, from the offset the server holds');
    assert.deepEqual(planChunks(8, 4), [[0, 4], [4, 8]]);
    assert.deepEqual(planChunks(0, 4), []);
    assert.equal(nextChunk(10, 10, 4), null);
    assert.deepEqual(nextChunk(3, 10, 100), [3, 10]);
  });

  test('backoff doubles from 0.5 s and stops growing at 15 s', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 50].map((n) => backoffDelay(n)), [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    assert.equal(backoffDelay(-3), 500);
  });

  test('every request names the protocol version; PATCH carries the offset and its content type', () => {
    for (const kind of ['create', 'head', 'patch', 'delete']) {
      assert.equal(tusHeaders(kind, { length: 1, offset: 0 })['Tus-Resumable'], TUS_VERSION);
    }
    assert.deepEqual(tusHeaders('patch', { offset: 4096 }), {
      'Tus-Resumable': '1.0.0',
      'Upload-Offset': '4096',
      'Content-Type': 'application/offset+octet-stream',
    });
    const create = tusHeaders('create', { length: 12, metadata: { filename: 'plage été.jpg', filetype: 'image/jpeg' } });
    assert.equal(create['Upload-Length'], '12');
    assert.equal(create['Upload-Metadata'], `filename ${Buffer.from('plage été.jpg').toString('base64')},filetype ${Buffer.from('image/jpeg').toString('base64')}`);
    assert.equal(encodeMetadata({ filename: 'a', filetype: '' }), 'filename YQ==', 'empty values are left out');
    assert.throws(() => tusHeaders('get'));
  });

  test('a fingerprint is the name, size and modification time, per user', () => {
    const f = { name: 'a.jpg', size: 10, lastModified: 5 };
    assert.equal(fingerprint(f, 'u1'), fingerprint({ ...f }, 'u1'));
    assert.notEqual(fingerprint(f, 'u1'), fingerprint(f, 'u2'));
    assert.notEqual(fingerprint(f), fingerprint({ ...f, size: 11 }));
    assert.notEqual(fingerprint(f), fingerprint({ ...f, lastModified: 6 }));
    assert.notEqual(fingerprint(f), fingerprint({ ...f, name: 'b.jpg' }));
  });

  test('which answers are retried and which end the upload', () => {
    for (const s of [200, 201, 204]) assert.equal(classify(s), 'ok');
    for (const s of [0, 500, 502, 503, 408, 409, 423, 429]) assert.equal(classify(s), 'retry', String(s));
    for (const s of [400, 401, 403, 404, 410, 412, 413, 415, 422]) assert.equal(classify(s), 'fatal', String(s));
  });

  test("a refusal's message is the server's own when it sent one", () => {
    assert.equal(errorMessage(415, '{"error":{"code":"unsupported_media_type","message":"HEIC images are not supported"}}'), 'HEIC images are not supported');
    assert.equal(errorMessage(413, '{"error":"over quota"}'), 'over quota');
    assert.match(errorMessage(413, ''), /too large/);
    assert.match(errorMessage(404, 'not json'), /gone/);
  });

  test('the upload id is the last segment of its URL', () => {
    assert.equal(uploadId('/api/uploads/abc123'), 'abc123');
    assert.equal(uploadId('http://h/api/uploads/abc123/?x=1'), 'abc123');
    assert.equal(resolveLocation('/api/uploads/x', 'http://127.0.0.1:9/api/uploads'), 'http://127.0.0.1:9/api/uploads/x');
    assert.equal(resolveLocation('/api/uploads/x', '/api/uploads'), '/api/uploads/x');
  });
});

// ---- a fake tus server ------------------------------------------------------------

/**
 * A tus server in memory: `dropPatch` makes a PATCH keep part of its body
 * and then cut the connection; `refuse(status, body)` answers the next
 * POST with that.
 */
function fakeTus() {
  const uploads = new Map();
  const log = [];
  let patches = 0;
  let drop = null;
  let refusal = null;
  let ids = 0;
  const server = createServer((req, res) => {
    const id = req.url.split('/').pop();
    const up = uploads.get(id);
    const entry = { method: req.method, url: req.url, headers: req.headers };
    log.push(entry);
    if (req.headers['tus-resumable'] !== TUS_VERSION) {
      res.writeHead(412).end();
      return;
    }
    if (req.method === 'POST') {
      if (refusal) {
        const r = refusal;
        refusal = null;
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(r.body);
        return;
      }
      const nid = `up${++ids}`;
      uploads.set(nid, { length: Number(req.headers['upload-length']), chunks: [], offset: 0, meta: req.headers['upload-metadata'] });
      res.writeHead(201, { Location: `/api/uploads/${nid}`, 'Tus-Resumable': TUS_VERSION }).end();
      return;
    }
    if (!up) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found","message":"no such upload"}}');
      return;
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Upload-Offset': String(up.offset), 'Upload-Length': String(up.length), 'Cache-Control': 'no-store' }).end();
      return;
    }
    if (req.method === 'DELETE') {
      uploads.delete(id);
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'PATCH') {
      patches += 1;
      const n = patches;
      const offset = Number(req.headers['upload-offset']);
      entry.offset = offset;
      if (req.headers['content-type'] !== 'application/offset+octet-stream') {
        res.writeHead(415).end();
        return;
      }
      if (offset !== up.offset) {
        req.resume();
        res.writeHead(409, { 'content-type': 'application/json' }).end('{"error":{"message":"wrong offset"}}');
        return;
      }
      const cut = drop && drop.patch === n ? drop.afterBytes : null;
      let got = 0;
      req.on('data', (buf) => {
        if (cut !== null) {
          if (got >= cut) return;
          const keep = buf.subarray(0, cut - got);
          up.chunks.push(keep);
          up.offset += keep.length;
          got += keep.length;
          if (got >= cut) req.socket.destroy();
          return;
        }
        up.chunks.push(buf);
        up.offset += buf.length;
        got += buf.length;
      });
      req.on('end', () => {
        if (cut !== null) return;
        res.writeHead(204, { 'Upload-Offset': String(up.offset), 'Tus-Resumable': TUS_VERSION }).end();
      });
    }
  });
  return {
    server,
    uploads,
    log,
    /** From now on, the n-th PATCH keeps `afterBytes` and drops the connection. */
    dropPatch(n, afterBytes) {
      drop = { patch: patches + n, afterBytes };
    },
    refuse(status, body) {
      refusal = { status, body };
    },
    bytes: (id) => Buffer.concat(uploads.get(id).chunks),
  };
}

function memoryStorage() {
  const m = new Map();
  return {
    map: m,
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
  };
}

function fileOf(size, name = 'clip.mp4') {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i += 1) data[i] = (i * 7 + (i >> 8)) & 255;
  const blob = new Blob([data], { type: 'video/mp4' });
  // A Blob with a File's name and date, as an <input type=file> gives.
  blob.name = name;
  blob.lastModified = 1_700_000_000_000;
  return { data, blob };
}

describe('uploads against a tus server', () => {
  let fake;
  let endpoint;
  before(async () => {
    fake = fakeTus();
    await new Promise((ok) => fake.server.listen(0, '127.0.0.1', ok));
    endpoint = `http://127.0.0.1:${fake.server.address().port}/api/uploads`;
  });
  after(() => new Promise((ok) => fake.server.close(ok)));

  const options = (extra = {}) => ({
    endpoint,
    transport: fetchTransport,
    storage: memoryStorage(),
    chunkBytes: 100_000,
    backoff: () => 5,
    ...extra,
  });

  test('a connection dropped mid-PATCH is resumed from the offset the server holds', async () => {
    const { data, blob } = fileOf(300_000);
    fake.log.length = 0;
    fake.dropPatch(2, 30_000);
    const states = [];
    const progress = [];
    const up = new TusUpload(blob, options({ onState: (s) => states.push(s), onProgress: (n, t) => progress.push([n, t]) }));
    const done = await up.start();
    assert.ok(fake.bytes(done.id).equals(data), 'the server ends with exactly the file');
    const patches = fake.log.filter((e) => e.method === 'PATCH');
    const offsets = patches.map((e) => e.offset);
    assert.deepEqual(offsets, [0, 100_000, 130_000, 230_000], 'after the drop, the next PATCH starts where the server stopped');
    const methods = fake.log.map((e) => e.method);
    assert.deepEqual(methods, ['POST', 'PATCH', 'PATCH', 'HEAD', 'PATCH', 'PATCH'], 'a HEAD asks for the offset after the drop');
    for (const e of fake.log) assert.equal(e.headers['tus-resumable'], '1.0.0');
    assert.ok(states.includes('retrying'));
    assert.equal(states.at(-1), 'done');
    assert.deepEqual(progress.at(-1), [300_000, 300_000]);
    assert.equal(fake.log[0].headers['upload-length'], '300000');
    assert.match(fake.log[0].headers['upload-metadata'], /^filename /);
  });

  test('an upload remembered from a reload resumes with HEAD instead of starting again', async () => {
    const { data, blob } = fileOf(250_000, 'resume.mp4');
    const storage = memoryStorage();
    // The page before the reload: created the upload, sent 100,000 bytes, remembered the URL.
    const created = await fetchTransport({ method: 'POST', url: endpoint, headers: tusHeaders('create', { length: blob.size }) });
    const url = resolveLocation(created.header('Location'), endpoint);
    await fetchTransport({ method: 'PATCH', url, headers: tusHeaders('patch', { offset: 0 }), body: blob.slice(0, 100_000) });
    const key = fingerprint(blob, 'alice');
    storage.setItem(key, url);
    fake.log.length = 0;
    const done = await new TusUpload(blob, options({ storage, scope: 'alice' })).start();
    assert.equal(done.id, uploadId(url), 'the same upload, not a new one');
    assert.deepEqual(fake.log.map((e) => [e.method, e.offset]), [['HEAD', undefined], ['PATCH', 100_000], ['PATCH', 200_000]]);
    assert.ok(fake.bytes(done.id).equals(data));
    assert.equal(storage.getItem(key), null, 'a finished upload is forgotten');
  });

  test('a remembered upload that is gone starts afresh', async () => {
    const { data, blob } = fileOf(1000, 'gone.jpg');
    const storage = memoryStorage();
    storage.setItem(fingerprint(blob, 'bob'), `${endpoint}/nope`);
    fake.log.length = 0;
    const done = await new TusUpload(blob, options({ storage, scope: 'bob' })).start();
    assert.deepEqual(fake.log.map((e) => e.method), ['HEAD', 'POST', 'PATCH']);
    assert.ok(fake.bytes(done.id).equals(data));
  });

  test("a refusal ends the upload with the server's message, without retrying", async () => {
    const { blob } = fileOf(1000, 'photo.heic');
    fake.refuse(413, '{"error":{"code":"payload_too_large","message":"over your 5 GiB quota"}}');
    fake.log.length = 0;
    const up = new TusUpload(blob, options());
    await assert.rejects(up.start(), (e) => e.status === 413 && e.message === 'over your 5 GiB quota');
    assert.equal(fake.log.length, 1);
  });

  test('abort stops the upload and deletes it on the server', async () => {
    const { blob } = fileOf(300_000, 'cancel.mp4');
    fake.log.length = 0;
    const up = new TusUpload(blob, options());
    up.onProgress = (n) => {
      if (n >= 100_000) up.abort();
    };
    await assert.rejects(up.start(), /cancelled/);
    await new Promise((ok) => setTimeout(ok, 20));
    const del = fake.log.find((e) => e.method === 'DELETE');
    assert.ok(del, 'a DELETE was sent');
    assert.equal(fake.uploads.has(del.url.split('/').pop()), false);
  });

  test('a network with no server keeps being retried, and wakes at once when the browser is back online', async () => {
    const { blob } = fileOf(10, 'x.jpg');
    let online = false;
    let wake = null;
    let calls = 0;
    const states = [];
    const up = new TusUpload(blob, {
      endpoint,
      storage: null,
      backoff: () => 60_000,
      network: { isOnline: () => online, onOnline: (fn) => { wake = fn; return () => { wake = null; }; } },
      onState: (s) => states.push(s),
      transport: async (req) => {
        calls += 1;
        if (!online) throw new TransportError('network', 'offline');
        return fetchTransport(req);
      },
    });
    const run = up.start();
    await new Promise((ok) => setTimeout(ok, 20));
    assert.equal(calls, 1);
    assert.deepEqual(states, ['uploading', 'offline']);
    online = true;
    wake();
    const done = await run;
    assert.ok(done.id);
    assert.equal(states.at(-1), 'done');
  });
});
