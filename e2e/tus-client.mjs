// Uploads a file to kith with tus-js-client (the tus project's JavaScript
// client, as web apps and Uppy use it), unchanged: half-way the upload is
// aborted, as when a tab loses its connection, and a second upload resumes
// it at its URL from the offset the server reports.
//
//   node tus-client.mjs BASE_URL COOKIE FILE
//
// Prints one JSON line: {"url", "abortedAt", "resumedFrom", "done"}.

import { readFileSync } from 'node:fs';
import * as tus from 'tus-js-client';

const [base, cookie, path] = process.argv.slice(2);
const data = readFileSync(path);
const common = {
  endpoint: `${base}/api/uploads`,
  headers: { Cookie: cookie },
  chunkSize: 256 * 1024,
  metadata: { filename: 'photo.jpg', filetype: 'image/jpeg' },
  retryDelays: [0, 500, 1000],
};

function run(options) {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      ...common,
      ...options,
      onError: reject,
      onSuccess: () => resolve(upload),
    });
    options.attach?.(upload, resolve);
    upload.start();
  });
}

const timeout = setTimeout(() => {
  console.error('tus-client: no result within 60 s');
  process.exit(2);
}, 60_000);

let abortedAt = 0;
const first = await run({
  attach(upload, resolve) {
    upload.options.onProgress = (sent, total) => {
      if (abortedAt === 0 && sent >= total / 2) {
        abortedAt = sent;
        upload.abort(false).then(() => resolve(upload));
      }
    };
  },
});
const url = first.url;
let resumedFrom = -1;
await run({
  uploadUrl: url,
  onProgress(sent) {
    if (resumedFrom < 0) resumedFrom = sent;
  },
});
clearTimeout(timeout);
console.log(JSON.stringify({ url, abortedAt, resumedFrom, done: true }));
