'use strict';
// A BullMQ worker for the benchmark's no-op jobs.
//
// Env: REDIS_URL (default redis://127.0.0.1:6379), QUEUE (default "noop"),
// CONCURRENCY (jobs in flight at once, default 1). Prints one JSON line when
// it is connected and ready; stops cleanly on SIGTERM or SIGINT.

const { Worker } = require('bullmq');

/** The job: nothing, as kith's benchmark's `noop` kind. */
async function noop() {}

function startWorker({ redisUrl, queue, concurrency }) {
  return new Worker(queue, noop, { connection: { url: redisUrl }, concurrency });
}

module.exports = { startWorker };

if (require.main === module) {
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const queue = process.env.QUEUE || 'noop';
  const concurrency = Number(process.env.CONCURRENCY || 1);
  const worker = startWorker({ redisUrl, queue, concurrency });
  worker.on('failed', (job, err) => console.error(`job ${job && job.id} failed: ${err.message}`));
  worker.on('error', (err) => console.error('worker:', err.message));
  worker
    .waitUntilReady()
    .then(() => console.log(JSON.stringify({ ready: true, queue, concurrency, pid: process.pid })))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(0), 5000).unref();
    worker.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
