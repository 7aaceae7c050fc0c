'use strict';
// Queue throughput through BullMQ, mirroring kith's jobs benchmark
// (bench/src/jobs.rs): N no-op jobs enqueued by P producers (each awaiting
// its adds one after the other, each job with its own id and 3 attempts)
// while a worker with concurrency C claims and completes them. Prints one
// JSON line per concurrency: jobs/s = N / (time from the first add to the
// last completion).
//
// Usage: node jobs-bench.js [--jobs 4000] [--producers 16]
//          [--concurrency 1[,4,16]] [--worker process|inline] [--timeout 120]
// Env: REDIS_URL (default redis://127.0.0.1:6379).
//
// --worker process (default) runs worker.js as its own process, as BullMQ
// is deployed; --worker inline runs the Worker in this process, beside the
// producers.

const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');
const { Queue } = require('bullmq');
const { startWorker } = require('./worker');

function args() {
  const opts = { jobs: 4000, producers: 16, concurrency: '1', worker: 'process', timeout: 120 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in opts) || argv[i + 1] === undefined) {
      console.error(`unknown or incomplete option ${argv[i]}`);
      process.exit(2);
    }
    opts[key] = argv[i + 1];
  }
  opts.jobs = Number(opts.jobs);
  opts.producers = Number(opts.producers);
  opts.timeout = Number(opts.timeout);
  opts.concurrency = String(opts.concurrency).split(',').map(Number);
  if (!['process', 'inline'].includes(opts.worker)) {
    console.error('--worker is process or inline');
    process.exit(2);
  }
  return opts;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts worker.js on `queue`; resolves with the child once it says it is ready. */
function spawnWorker(redisUrl, queue, concurrency, timeoutMs) {
  const child = spawn(process.execPath, [path.join(__dirname, 'worker.js')], {
    env: { ...process.env, REDIS_URL: redisUrl, QUEUE: queue, CONCURRENCY: String(concurrency) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('worker.js did not become ready'));
    }, timeoutMs);
    child.on('exit', (code) => reject(new Error(`worker.js exited with ${code}`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"ready":true')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
  });
}

async function run(opts, redisUrl, concurrency) {
  const name = `bench-${process.pid}-${Date.now()}`;
  const connection = { url: redisUrl };
  const queue = new Queue(name, { connection });
  await queue.waitUntilReady();
  let child = null;
  let worker = null;
  let completed = 0;
  let allDone = null;
  if (opts.worker === 'process') {
    child = await spawnWorker(redisUrl, name, concurrency, 30_000);
  } else {
    worker = startWorker({ redisUrl, queue: name, concurrency });
    allDone = new Promise((resolve) => {
      worker.on('completed', () => {
        completed += 1;
        if (completed >= opts.jobs) resolve();
      });
    });
    await worker.waitUntilReady();
  }
  const deadline = Date.now() + opts.timeout * 1000;
  const start = process.hrtime.bigint();
  const perProducer = Math.ceil(opts.jobs / opts.producers);
  const producers = [];
  for (let p = 0; p < opts.producers; p++) {
    producers.push(
      (async () => {
        for (let i = 0; i < perProducer && p * perProducer + i < opts.jobs; i++) {
          await queue.add('noop', {}, { jobId: `bench-${p}-${i}`, attempts: 3 });
        }
      })(),
    );
  }
  await Promise.all(producers);
  // Wait for the last completion: counted by the in-process worker's
  // events, or read from the queue every 5 ms when the worker is another
  // process.
  if (allDone) {
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now()));
    });
    const timedOut = await Promise.race([allDone.then(() => false), timeout]);
    clearTimeout(timer);
    if (timedOut) throw new Error(`timed out: ${completed} of ${opts.jobs} jobs completed`);
  } else {
    for (;;) {
      completed = await queue.getCompletedCount();
      if (completed >= opts.jobs) break;
      if (Date.now() > deadline) throw new Error(`timed out: ${completed} of ${opts.jobs} jobs completed`);
      await sleep(5);
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (worker) await worker.close();
  if (child) {
    child.removeAllListeners('exit');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    let timer;
    await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
    clearTimeout(timer);
  }
  await queue.obliterate({ force: true });
  await queue.close();
  return {
    jobs: opts.jobs,
    producers: opts.producers,
    concurrency,
    worker: opts.worker,
    seconds: Number(seconds.toFixed(3)),
    jobs_per_s: Math.round(opts.jobs / seconds),
  };
}

async function main() {
  const opts = args();
  const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  for (const c of opts.concurrency) {
    console.log(JSON.stringify(await run(opts, redisUrl, c)));
  }
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
