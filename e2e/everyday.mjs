// The everyday e2e: kith's web client as an everyday app, in Debian's
// Chromium (playwright-core), beside e2e/run.mjs. Three users sign up
// through #/signup (alice; bob, whose browser forces WebSocket; carol);
// alice befriends bob and carol. Then the step modules of e2e/everyday/
// run in order, each given the helpers of e2e/kit.mjs as `k`:
// pages, confirm, chat, chat-live, content, content-live, connection,
// installable.
//
// Environment:
//   KITH_URL       the server, e.g. http://127.0.0.1:8080 (required)
//   SCREENSHOTS    directory for PNGs (default: target/e2e-screenshots/everyday)
//   CHROMIUM       the browser (default: /usr/bin/chromium)
//   HEADED=1       show the browsers
//   KITH_BIN, KITH_DB  the kith binary and the server's database, to make
//                  alice an admin (`kith admin user make-admin`) for the admin
//                  console's pages; without them those pages are skipped
//   EVERYDAY_ONLY  a comma-separated subset of the modules (local runs)
//
// Exits 0 when every module passed ("e2e: PASSED"), otherwise prints each
// failed step and console error, writes failure-*.png and exits 1.

import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createKit, Failure } from './kit.mjs';

const MODULES = ['pages', 'confirm', 'chat', 'chat-live', 'content', 'content-live', 'connection', 'installable'];
/** The bound on the whole run. */
const WHOLE_RUN = 480_000;

const started = Date.now();
const here = dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.KITH_URL || '').replace(/\/+$/, '');
const SHOTS = resolve(process.env.SCREENSHOTS || join(here, '..', 'target', 'e2e-screenshots', 'everyday'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function usage(msg) {
  console.error(`e2e: ${msg}`);
  console.error('usage: KITH_URL=http://127.0.0.1:PORT [EVERYDAY_ONLY=pages,connection] node e2e/everyday.mjs');
  process.exit(2);
}
if (!/^https?:\/\/[^/]+$/.test(BASE)) usage(`KITH_URL must be an http(s) origin, got ${JSON.stringify(process.env.KITH_URL)}`);
if (!existsSync(CHROMIUM)) usage(`no browser at ${CHROMIUM}: run scripts/test.sh (it installs Debian's chromium) or set CHROMIUM`);
const only = (process.env.EVERYDAY_ONLY || '').split(',').map((s) => s.trim()).filter(Boolean);
const unknown = only.filter((m) => !MODULES.includes(m));
if (unknown.length) usage(`EVERYDAY_ONLY names unknown module(s) ${unknown.join(', ')}; known: ${MODULES.join(', ')}`);
const selected = only.length ? MODULES.filter((m) => only.includes(m)) : MODULES;

const k = await createKit({
  base: BASE,
  shots: SHOTS,
  chromium: CHROMIUM,
  headed: process.env.HEADED === '1',
  kithBin: process.env.KITH_BIN || '',
  kithDb: process.env.KITH_DB || '',
  started,
});
// A previous run's failure screenshots would mislead.
for (const f of readdirSync(SHOTS)) if (/^failure-.*\.png$/.test(f)) rmSync(join(SHOTS, f), { force: true });

function printErrors(stream) {
  if (!k.errors.length) return;
  stream(`e2e: ${k.errors.length} console error(s):`);
  for (const e of k.errors) stream(`  - ${e}`);
}

const results = [];
function summary(stream) {
  stream('e2e: summary:');
  for (const r of results) stream(`e2e:   ${r.ok ? 'ok    ' : 'FAILED'} ${r.name}${r.title ? ` (${r.title})` : ''}${r.ok ? '' : `: ${r.reason.split('\n')[0]}`}`);
}

const watchdog = setTimeout(async () => {
  console.error(`e2e: FAILED: the whole run took over ${WHOLE_RUN / 1000} s (in step "${k.current}")`);
  summary(console.error);
  printErrors(console.error);
  await Promise.race([k.failureShots('timeout'), new Promise((r) => setTimeout(r, 10_000))]);
  process.exit(1);
}, WHOLE_RUN);

const reason = (e) => (e instanceof Failure ? e.message : e?.stack || String(e));

async function setup() {
  const alice = await k.newUser('alice');
  const bob = await k.newUser('bob', { forceWebSocket: true });
  const carol = await k.newUser('carol');
  k.users = { alice, bob, carol };
  await k.step('alice, bob (WebSocket) and carol sign up through #/signup', async () => {
    for (const u of [alice, bob, carol]) await k.signup(u);
  });
  await k.step('alice befriends bob and carol', async () => {
    for (const friend of [bob, carol]) {
      const req = await k.api(alice.page, 'POST', '/api/friends/requests', { username: friend.name });
      if (req.status !== 201) k.fail(`alice: asking ${friend.name} to be friends answered ${req.status} ${JSON.stringify(req.body)}`);
      const ok = await k.api(friend.page, 'POST', `/api/friends/requests/${encodeURIComponent(req.body.id)}/accept`);
      if (ok.status >= 300) k.fail(`${friend.who}: accepting alice's request answered ${ok.status} ${JSON.stringify(ok.body)}`);
    }
    const friends = await k.api(alice.page, 'GET', '/api/friends?limit=100');
    const names = (friends.body?.items || []).map((f) => f.user?.username);
    for (const f of [bob, carol]) if (!names.includes(f.name)) k.fail(`alice: ${f.name} is not among her friends (${JSON.stringify(names)})`);
  });
}

let ok = true;
try {
  await setup();
  results.push({ name: 'setup', ok: true });
} catch (e) {
  ok = false;
  results.push({ name: 'setup', ok: false, reason: reason(e) });
  console.error(`e2e: FAILED in step "${k.current}": ${reason(e)}`);
  await k.failureShots('setup');
}

if (ok) {
  for (const name of selected) {
    const file = join(here, 'everyday', `${name}.mjs`);
    if (!existsSync(file)) {
      ok = false;
      results.push({ name, ok: false, reason: `the module e2e/everyday/${name}.mjs is missing` });
      console.error(`e2e: FAILED: the module e2e/everyday/${name}.mjs is missing`);
      continue;
    }
    let mod;
    try {
      mod = await import(pathToFileURL(file).href);
      if (typeof mod.run !== 'function') throw new Failure(`e2e/everyday/${name}.mjs exports no run(k)`);
      k.log(`module: ${name} — ${mod.title || ''}`);
      await mod.run(k);
      results.push({ name, title: mod.title, ok: true });
    } catch (e) {
      ok = false;
      results.push({ name, title: mod?.title, ok: false, reason: `step "${k.current}": ${reason(e)}` });
      console.error(`e2e: FAILED in module ${name}, step "${k.current}": ${reason(e)}`);
      await k.failureShots(name);
    } finally {
      // A module that failed mid-outage must not leave the server unreachable.
      await k.proxy.start().catch(() => {});
    }
  }
}

clearTimeout(watchdog);
if (ok && k.errors.length) {
  ok = false;
  results.push({ name: 'console', ok: false, reason: `${k.errors.length} console error(s) outside any step (below)` });
}
console.log(`e2e: ${ok ? 'PASSED' : 'FAILED'} in ${Math.round((Date.now() - started) / 1000)} s (modules: ${selected.join(', ')}); screenshots in ${SHOTS}`);
summary(ok ? console.log : console.error);
printErrors(console.error);
await k.close();
process.exit(ok ? 0 : 1);
