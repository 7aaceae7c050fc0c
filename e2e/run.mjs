// End-to-end test of kith's web client: two users (two browser contexts of
// Debian's Chromium, driven by playwright-core) sign up, become friends,
// post, like, comment, chat (one over WebTransport, one over WebSocket),
// see typing, read receipts and presence, and upload a video that is
// transcoded and played. Then settings: alice edits her profile, mutes and
// unmutes bob, and changes her password, which signs her second browser
// out; bob reports her post, and carol, made an admin with the CLI, bans
// her from the console (e2e/admin-steps.mjs).
//
// Environment:
//   KITH_URL     the server, e.g. http://127.0.0.1:8080 (required)
//   CLIP         a small H.264/AAC mp4 to upload (required)
//   PHOTOS       JPEGs to upload together, comma-separated (required; a few MB in all)
//   SCREENSHOTS  directory for full-page PNGs (default: target/e2e-screenshots)
//   CHROMIUM     the browser (default: /usr/bin/chromium)
//   HEADED=1     show the browsers (for debugging by hand)
//   KITH_BIN, KITH_DB  the kith binary and the server's database, to make an
//                admin with `kith admin user make-admin` (without them the
//                admin steps are skipped, saying so)
//
// Exits 0 when every step passed; otherwise prints the failed step, the
// reason and any console errors, writes failure-*.png screenshots and exits 1.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, errors as pwErrors } from 'playwright-core';
import { consoleWhere, DESKTOP, describe, PHONE, STEP, uncaught } from './kit.mjs';

// ---- Configuration ---------------------------------------------------------

/** The bound on a video's upload and transcode. */
const TRANSCODE = 90_000;
/** The bound on the whole run. */
const WHOLE_RUN = 420_000;
/** How long presence may take to show a friend offline (1 s grace + delivery). */
const PRESENCE_OFF = 15_000;

const started = Date.now();
const BASE = (process.env.KITH_URL || '').replace(/\/+$/, '');
const CLIP = process.env.CLIP ? resolve(process.env.CLIP) : '';
const PHOTOS = (process.env.PHOTOS || '').split(',').filter(Boolean).map((p) => resolve(p));
const SHOTS = resolve(process.env.SCREENSHOTS || join(dirname(fileURLToPath(import.meta.url)), '..', 'target', 'e2e-screenshots'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function usage(msg) {
  console.error(`e2e: ${msg}`);
  console.error('usage: KITH_URL=http://127.0.0.1:PORT CLIP=clip.mp4 SCREENSHOTS=dir node e2e/run.mjs');
  process.exit(2);
}
if (!/^https?:\/\/[^/]+$/.test(BASE)) usage(`KITH_URL must be an http(s) origin, got ${JSON.stringify(process.env.KITH_URL)}`);
if (!CLIP || !existsSync(CLIP) || !statSync(CLIP).isFile()) usage(`CLIP must name a video file, got ${JSON.stringify(process.env.CLIP)}`);
if (PHOTOS.length < 2 || !PHOTOS.every((p) => existsSync(p))) usage(`PHOTOS must name two or more JPEG files, comma-separated, got ${JSON.stringify(process.env.PHOTOS)}`);
if (!existsSync(CHROMIUM)) usage(`no browser at ${CHROMIUM}: run scripts/test.sh (it installs Debian's chromium) or set CHROMIUM`);
mkdirSync(SHOTS, { recursive: true });
// A previous run's failure screenshots would mislead.
for (const f of readdirSync(SHOTS)) if (/^failure-.*\.png$/.test(f)) rmSync(join(SHOTS, f), { force: true });

const suffix = String(Date.now() % 100000).padStart(5, '0');
const ALICE = `alice${suffix}`;
const BOB = `bob${suffix}`;
const CAROL = `carol${suffix}`;
const PASSWORD = (name) => `password-${name}-e2e`;
/** alice's password after she changes it in her settings. */
const NEW_PASSWORD = `a new passphrase for ${suffix}`;
const KITH_BIN = process.env.KITH_BIN || '';
const KITH_DB = process.env.KITH_DB || '';


// ---- Small helpers ---------------------------------------------------------

/** A CSS selector for a data-testid. */
const tid = (id) => `[data-testid="${id}"]`;
const secs = (ms) => `${Math.round(ms / 100) / 10}s`;
const elapsed = () => secs(Date.now() - started);
const log = (msg) => console.log(`[${elapsed().padStart(6)}] ${msg}`);
/** A regexp matching text whose only number is `n` ("1", "1 like", "Likes: 1"). */
const onlyNumber = (n) => new RegExp(`^\\D*${n}\\D*$`);

class Failure extends Error {}
const isTimeout = (e) => e instanceof pwErrors.TimeoutError || (e && e.name === 'TimeoutError');
const firstLine = (e) => (e?.message ? e.message.split('\n')[0] : String(e));
const fail = (msg) => {
  throw new Failure(msg);
};

/**
 * Waits until `locator` reaches `state` (visible by default), bounded by
 * `timeout`; on timeout fails with `what` and a description of `context`
 * (the element as it is, without the condition being waited for).
 */
async function expectState(locator, what, { state = 'visible', timeout = STEP, context } = {}) {
  // "Detached" and "hidden" mean: no element matches (so look at the first).
  const target = state === 'detached' || state === 'hidden' ? locator.first() : locator;
  try {
    await target.waitFor({ state, timeout });
  } catch (e) {
    const now = await describe(context || locator);
    if (isTimeout(e)) fail(`${what}: not ${state} within ${secs(timeout)} (${now})`);
    fail(`${what}: ${firstLine(e)} (${now})`);
  }
}

/**
 * Like `expectState`, but reloads the page every `every` ms until the
 * deadline: for data the page may only fetch when it loads.
 */
async function eventually(page, locator, what, { timeout = STEP, every = 6_000, context } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const left = deadline - Date.now();
    try {
      await locator.waitFor({ state: 'visible', timeout: Math.max(1, Math.min(every, left)) });
      return;
    } catch (e) {
      if (!isTimeout(e)) fail(`${what}: ${firstLine(e)} (${await describe(context || locator)})`);
      if (Date.now() >= deadline) {
        const now = await describe(context || locator);
        fail(`${what}: not visible within ${secs(timeout)}, reloading every ${secs(every)} (${now})`);
      }
    }
    await page.reload({ waitUntil: 'domcontentloaded', timeout: STEP });
  }
}

/** Polls `fn` (an async predicate) until it is true, bounded. */
async function until(fn, what, timeout = STEP) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last === true) return;
    } catch (e) {
      last = e.message.split('\n')[0];
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(`${what}: not true within ${secs(timeout)}${last !== undefined && last !== false ? ` (last: ${last})` : ''}`);
}

async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true, timeout: STEP });
  log(`screenshot ${path}`);
}

/** A full-page screenshot at the phone size, then back to the desktop size. */
async function phoneShot(page, name) {
  await page.setViewportSize(PHONE);
  try {
    await shot(page, name);
  } finally {
    await page.setViewportSize(DESKTOP);
  }
}

async function go(page, route) {
  await page.goto(`${BASE}/#/${route}`, { waitUntil: 'domcontentloaded', timeout: STEP });
}

/** Clicks a nav link and waits until the route is shown. */
async function nav(page, link, hashPrefix) {
  await page.locator(tid(link)).first().click();
  await until(async () => (await page.evaluate(() => location.hash)).startsWith(hashPrefix), `the ${link} link leads to ${hashPrefix}`);
}

// ---- Browser and console errors --------------------------------------------

const errors = [];
let current = 'start';

/** While the test cuts the network on purpose, failed loads are expected. */
let networkCut = false;

/**
 * Browsers whose session the server ended on purpose (a new password
 * elsewhere, a ban): their check of /api/me answers 401, which Chromium
 * logs as a failed load.
 */
const signedOutOnPurpose = new Set();

/** Refusals a step provokes on purpose: `${who} ${status} ${path}` (a wrong password). */
const refusedOnPurpose = new Set();

function watch(context, who) {
  context.on('console', (m) => {
    if (m.type() !== 'error') return;
    const at = m.location()?.url || '';
    const refused = [...refusedOnPurpose].some((r) => {
      const [w, status, path] = r.split(' ');
      return w === who && m.text().includes(`status of ${status}`) && at.includes(path);
    });
    if (refused || (signedOutOnPurpose.has(who) && /status of 401/.test(m.text()))) {
      log(`  (expected: ${refused ? "refused on purpose" : "signed out on purpose"}) ${who}: ${m.text()}`);
      return;
    }
    if (networkCut && /net::ERR_|ERR_INTERNET_DISCONNECTED|Failed to load resource|WebSocket|WebTransport/.test(m.text())) {
      log(`  (expected while offline) ${who}: ${m.text()}`);
      return;
    }
    errors.push(`${who}, step "${current}": console error: ${m.text()}${consoleWhere(m)}`);
  });
  context.on('weberror', (e) => {
    errors.push(`${who}, step "${current}": ${uncaught(e)}`);
  });
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: process.env.HEADED !== '1',
  timeout: STEP,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

async function newUser(who, { forceWebSocket = false } = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, baseURL: BASE });
  context.setDefaultTimeout(STEP);
  context.setDefaultNavigationTimeout(STEP);
  watch(context, who);
  if (forceWebSocket) {
    await context.addInitScript(() => {
      try {
        window.localStorage.setItem('kith.transport', 'websocket');
      } catch {
        // about:blank and other opaque origins have no localStorage.
      }
    });
  }
  const page = await context.newPage();
  return { who, context, page };
}

// ---- The watchdog ----------------------------------------------------------

let alice;
let bob;
let carol;
let alice2;

async function failureShots() {
  for (const u of [alice, bob, carol, alice2]) {
    if (!u || u.closed) continue;
    try {
      await u.page.screenshot({ path: join(SHOTS, `failure-${u.who}.png`), fullPage: true, timeout: 5_000 });
      console.error(`e2e: ${u.who}'s page (${u.page.url()}) is in ${join(SHOTS, `failure-${u.who}.png`)}`);
    } catch {}
  }
}

function printErrors(stream) {
  if (!errors.length) return;
  stream(`e2e: ${errors.length} console error(s):`);
  for (const e of errors) stream(`  - ${e}`);
}

const watchdog = setTimeout(async () => {
  console.error(`e2e: FAILED: the whole run took over ${secs(WHOLE_RUN)} (in step "${current}")`);
  printErrors(console.error);
  await Promise.race([failureShots(), new Promise((r) => setTimeout(r, 10_000))]);
  process.exit(1);
}, WHOLE_RUN);

async function step(name, fn) {
  current = name;
  const t = Date.now();
  log(`step: ${name}`);
  await fn();
  log(`  ok (${secs(Date.now() - t)})`);
}

// ---- The steps -------------------------------------------------------------

async function signup(u, name, screenshot) {
  const { page } = u;
  await go(page, 'signup');
  await expectState(page.locator(tid('signup-username')), `${u.who}: the signup form`);
  await expectState(page.locator(tid('go-login')), `${u.who}: the signup page's link to the login page`);
  await page.locator(tid('signup-username')).fill(name);
  await page.locator(tid('signup-password')).fill(PASSWORD(name));
  if (screenshot) await shot(page, 'signup-desktop');
  await page.locator(tid('signup-submit')).click();
  const outcome = page.locator(`${tid('logout')}, ${tid('form-error')}`).filter({ visible: true }).first();
  await expectState(outcome, `${u.who}: signing up (neither the app shell's logout button nor a form error appeared)`);
  if ((await outcome.getAttribute('data-testid')) === 'form-error') {
    fail(`${u.who}: signing up as ${name} failed: form-error says ${JSON.stringify(await outcome.innerText())}`);
  }
  for (const link of ['nav-feed', 'nav-friends', 'nav-chat', 'nav-notifications', 'nav-profile']) {
    await expectState(page.locator(tid(link)).first(), `${u.who}: the app shell's ${link} link`);
  }
}

/** Waits until a user's realtime connection is open, and checks it is over `transport`. */
async function transportOpen(u, transport, why) {
  const indicator = u.page.locator(tid('transport')).first();
  const attrs = async () => ({
    transport: await indicator.getAttribute('data-transport', { timeout: 1_000 }).catch(() => null),
    state: await indicator.getAttribute('data-state', { timeout: 1_000 }).catch(() => null),
  });
  const offer = async () => {
    try {
      const c = await u.page.evaluate(async () => (await fetch('/api/realtime/config')).json());
      return c.webtransport
        ? `the server offers WebTransport at ${c.webtransport.url} with ${(c.webtransport.cert_hashes || []).length} certificate hash(es)`
        : 'the server does not offer WebTransport';
    } catch (e) {
      return `GET /api/realtime/config failed: ${firstLine(e)}`;
    }
  };
  try {
    await u.page.locator(`${tid('transport')}[data-state="open"]`).first().waitFor({ state: 'attached', timeout: STEP });
  } catch {
    const now = await attrs();
    fail(
      `${u.who}: the realtime connection did not open within ${secs(STEP)} (expected ${transport}; ` +
        `the transport indicator says data-transport=${JSON.stringify(now.transport)} data-state=${JSON.stringify(now.state)}; ${await offer()})`,
    );
  }
  const now = await attrs();
  if (now.transport !== transport) {
    fail(
      `${u.who}: the realtime connection is open over ${JSON.stringify(now.transport)}, expected ${transport} (${why}); ${await offer()} ` +
        `(${await describe(indicator)})`,
    );
  }
}

function post(page, id) {
  return page.locator(`article${tid('post')}[data-post-id="${id}"]`);
}

/** Posts `body` from the feed's composer; returns the new post's id. */
async function publish(u, body) {
  const { page } = u;
  await page.locator(tid('composer-body')).fill(body);
  await page.locator(tid('composer-submit')).click();
  const mine = page.locator(`article${tid('post')}`).filter({ has: page.locator(tid('post-body'), { hasText: body }) }).first();
  await expectState(mine, `${u.who}: the new post "${body}" in the feed`, { context: page.locator(`article${tid('post')}`) });
  const id = await mine.getAttribute('data-post-id');
  if (!id) fail(`${u.who}: the new post has no data-post-id (${await describe(mine)})`);
  const author = await mine.locator(tid('post-author')).first().innerText();
  if (!author.includes(u.name)) fail(`${u.who}: the new post's post-author is ${JSON.stringify(author)}, not ${u.name}`);
  return id;
}

/** Opens a settings section by its tab and waits until it has loaded. */
async function settingsSection(u, section) {
  const { page } = u;
  if (!(await page.locator(tid('settings')).count())) await nav(page, 'nav-settings', '#/settings');
  await page.locator(tid(`settings-tab-${section}`)).click();
  const el = page.locator(tid(`settings-section-${section}`));
  await expectState(el, `${u.who}: the settings section ${section}`, { context: page.locator('main') });
  await expectState(el.locator('[aria-busy="true"]'), `${u.who}: the settings section ${section} loaded`, { state: 'detached', context: el });
  return el;
}

/** Screenshots of settings sections at both sizes: settings-<section>-desktop/-phone.png. */
async function settingsTour(u, sections) {
  for (const section of sections) {
    await settingsSection(u, section);
    await shot(u.page, `settings-${section}-desktop`);
    await phoneShot(u.page, `settings-${section}-phone`);
  }
}

/** Signs in through #/login (for a second browser of an existing user). */
async function login(u, name, password) {
  const { page } = u;
  await go(page, 'login');
  await page.locator(tid('login-username')).fill(name);
  await page.locator(tid('login-password')).fill(password);
  await page.locator(tid('login-submit')).click();
  await expectState(page.locator(tid('logout')), `${u.who}: signed in as ${name}`, { context: page.locator('main') });
}

/** Whether this browser's realtime connection is open now. */
const liveNow = (u) => u.page.locator(`${tid('transport')}[data-state="open"]`).count().then((n) => n > 0);

let aliceBanned = false;

try {
  alice = await newUser('alice');
  bob = await newUser('bob', { forceWebSocket: true });
  alice.name = ALICE;
  bob.name = BOB;
  log(`Chromium ${browser.version()}, ${BASE}, users ${ALICE} and ${BOB}, screenshots in ${SHOTS}`);

  await step('both sign up through #/signup', async () => {
    await signup(alice, ALICE, true);
    await signup(bob, BOB, false);
  });

  await step('transports: alice on WebTransport, bob on WebSocket', async () => {
    const supported = await alice.page.evaluate(() => ({ wt: typeof WebTransport, secure: isSecureContext }));
    if (supported.wt !== 'function' || !supported.secure) {
      fail(`alice's browser has no WebTransport here (typeof WebTransport=${supported.wt}, isSecureContext=${supported.secure})`);
    }
    await transportOpen(bob, 'websocket', "bob's localStorage['kith.transport'] is 'websocket'");
    await transportOpen(alice, 'webtransport', 'Chromium supports WebTransport and the server offers it; a WebSocket fallback here means WebTransport failed');
  });

  await step('alice finds bob on #/friends and sends a friend request', async () => {
    const { page } = alice;
    await nav(page, 'nav-friends', '#/friends');
    const search = page.locator(tid('people-search'));
    await expectState(search, 'alice: people-search');
    await search.fill(BOB);
    await search.press('Enter');
    const result = page.locator(`${tid('search-result')}[data-username="${BOB}"]`);
    await expectState(result, `alice: search-result for ${BOB}`, { context: page.locator(tid('search-result')) });
    await result.locator(tid('add-friend')).click();
    await expectState(
      page.locator(tid('outgoing-request')).filter({ hasText: BOB }).first(),
      `alice: an outgoing-request to ${BOB}`,
      { context: page.locator(tid('outgoing-request')) },
    );
  });

  await step('bob accepts; both see each other under friend', async () => {
    const { page } = bob;
    await nav(page, 'nav-friends', '#/friends');
    const incoming = page.locator(`${tid('incoming-request')}[data-username="${ALICE}"]`);
    await eventually(page, incoming, `bob: incoming-request from ${ALICE}`, { context: page.locator(tid('incoming-request')) });
    await expectState(incoming.locator(tid('decline-request')), 'bob: the request has a decline-request button');
    await incoming.locator(tid('accept-request')).click();
    await expectState(page.locator(`${tid('friend')}[data-username="${ALICE}"]`), `bob: ${ALICE} under friend`, {
      context: page.locator(tid('friend')),
    });
    await expectState(incoming, 'bob: the accepted incoming-request goes away', { state: 'detached' });
    const a = alice.page;
    await eventually(a, a.locator(`${tid('friend')}[data-username="${BOB}"]`), `alice: ${BOB} under friend`, {
      context: a.locator(tid('friend')),
    });
  });

  const text = `hello from ${ALICE} at ${suffix}`;
  let postId;
  await step('alice posts on #/feed; bob sees it, likes it and comments', async () => {
    await nav(alice.page, 'nav-feed', '#/feed');
    await expectState(alice.page.locator(tid('composer-body')), 'alice: composer-body');
    await alice.page.locator(tid('composer-visibility')).selectOption('friends');
    postId = await publish(alice, text);

    const { page } = bob;
    await nav(page, 'nav-feed', '#/feed');
    const p = post(page, postId);
    await eventually(page, p, `bob: alice's post ${postId} in his feed`, { context: page.locator(`article${tid('post')}`) });
    const body = await p.locator(tid('post-body')).innerText();
    if (!body.includes(text)) fail(`bob: the post's post-body is ${JSON.stringify(body)}, expected ${JSON.stringify(text)}`);

    const like = p.locator(tid('like-button'));
    await like.click();
    await expectState(p.locator(`${tid('like-button')}[aria-pressed="true"]`), 'bob: like-button aria-pressed="true" after liking', {
      context: like,
    });
    await expectState(p.locator(tid('like-count')).filter({ hasText: onlyNumber(1) }), 'bob: like-count 1 after liking', {
      context: p.locator(tid('like-count')),
    });

    const comment = `nice one, ${ALICE}!`;
    const input = p.locator(tid('comment-input'));
    if (!(await input.isVisible())) await p.locator(tid('comment-toggle')).click();
    await input.fill(comment);
    await p.locator(tid('comment-submit')).click();
    await expectState(
      p.locator(tid('comment')).filter({ has: page.locator(tid('comment-body'), { hasText: comment }) }).first(),
      `bob: his comment under the post`,
      { context: p.locator(tid('comment')) },
    );
    await expectState(p.locator(tid('comment-count')).filter({ hasText: onlyNumber(1) }), 'bob: comment-count 1 after commenting', {
      context: p.locator(tid('comment-count')),
    });
  });

  await step('alice sees like-count 1 and comment-count 1 after a reload', async () => {
    const { page } = alice;
    await page.reload({ waitUntil: 'domcontentloaded' });
    const p = post(page, postId);
    await expectState(p, `alice: her post ${postId} after the reload`);
    await expectState(p.locator(tid('like-count')).filter({ hasText: onlyNumber(1) }), 'alice: like-count 1', {
      context: p.locator(tid('like-count')),
    });
    await expectState(p.locator(tid('comment-count')).filter({ hasText: onlyNumber(1) }), 'alice: comment-count 1', {
      context: p.locator(tid('comment-count')),
    });
    await expectState(p.locator(`${tid('like-button')}[aria-pressed="false"]`), 'alice: her like-button aria-pressed="false" (she did not like it)', {
      context: p.locator(tid('like-button')),
    });
    await transportOpen(alice, 'webtransport', 'after a reload');
  });

  await step("bob reports alice's post from its … menu", async () => {
    const { page } = bob;
    const p = post(page, postId);
    await expectState(p, `bob: alice's post ${postId}`);
    // Her own post's … menu deletes; it never offers a report.
    const own = post(alice.page, postId);
    await own.locator(tid('post-menu')).click();
    await expectState(own.locator(tid('post-delete')), 'alice: her own post offers Delete');
    if (await own.locator(tid('report-post')).count()) fail('alice: her own post offers a report');
    await alice.page.keyboard.press('Escape');
    await p.locator(tid('post-menu')).click();
    await page.locator(tid('report-post')).click();
    const dialog = page.locator(`dialog${tid('report-dialog')}[open]`);
    await expectState(dialog, 'bob: the report dialog opens');
    await dialog.locator(tid('report-submit')).click();
    await expectState(dialog.locator(tid('report-error')).filter({ hasText: /choose/i }), 'bob: a report without a reason is refused', {
      context: dialog,
    });
    await dialog.locator(tid('report-reason-spam')).check();
    await dialog.locator(tid('report-note')).fill(`e2e: ${BOB} reports this on purpose`);
    await shot(page, 'report-dialog-desktop');
    await phoneShot(page, 'report-dialog-phone');
    await dialog.locator(tid('report-submit')).click();
    await expectState(page.locator(tid('report-dialog')), 'bob: the report dialog closes once sent', { state: 'detached' });
    await expectState(page.locator('.toast').filter({ hasText: /report was sent/i }), 'bob: a toast says the report was sent', {
      context: page.locator('.toast'),
    });
    const focused = await page.evaluate(() => document.activeElement?.dataset?.testid);
    if (focused !== 'post-menu') fail(`bob: focus should return to the post's menu button, not ${focused}`);
  });

  let conversationId;
  await step('presence online and chat both ways (alice WebTransport, bob WebSocket)', async () => {
    const a = alice.page;
    const b = bob.page;
    await transportOpen(bob, 'websocket', 'forced by localStorage');
    await transportOpen(alice, 'webtransport', 'before chatting');

    // Presence: each sees the other online.
    await nav(a, 'nav-friends', '#/friends');
    const bobRow = a.locator(`${tid('friend')}[data-username="${BOB}"]`);
    await expectState(bobRow, `alice: ${BOB} under friend`);
    await expectState(bobRow.locator(`${tid('presence-dot')}[data-online="true"]`), `alice: ${BOB}'s presence-dot data-online="true"`, {
      state: 'attached',
      context: bobRow.locator(tid('presence-dot')),
    });
    await shot(a, 'friends-desktop');

    // alice opens the conversation from her friends list.
    await bobRow.locator(tid('message-friend')).click();
    await until(async () => /^#\/chat\/[^/]+/.test(await a.evaluate(() => location.hash)), 'alice: message-friend opens #/chat/<id>');
    conversationId = decodeURIComponent((await a.evaluate(() => location.hash)).replace(/^#\/chat\//, ''));
    await expectState(a.locator(tid('chat-title')).filter({ hasText: BOB }), `alice: chat-title names ${BOB}`, {
      context: a.locator(tid('chat-title')),
    });
    await expectState(a.locator(`${tid('chat-presence')}[data-online="true"]`), `alice: chat-presence data-online="true" for ${BOB}`, {
      state: 'attached',
      context: a.locator(tid('chat-presence')),
    });
    await expectState(a.locator(tid('message-input')), 'alice: message-input');

    // bob opens it from his conversation list.
    await nav(b, 'nav-chat', '#/chat');
    const item = b.locator(`${tid('conversation')}[data-conversation-id="${conversationId}"]`);
    await eventually(b, item, `bob: conversation ${conversationId} in his list`, { context: b.locator(tid('conversation')) });
    await expectState(item.locator(tid('conversation-title')).filter({ hasText: ALICE }), `bob: the conversation-title names ${ALICE}`, {
      context: item.locator(tid('conversation-title')),
    });
    await item.click();
    await until(async () => (await b.evaluate(() => location.hash)) === `#/chat/${conversationId}`, `bob: the conversation opens at #/chat/${conversationId}`);
    await expectState(b.locator(tid('chat-title')).filter({ hasText: ALICE }), `bob: chat-title names ${ALICE}`, {
      context: b.locator(tid('chat-title')),
    });
    await expectState(b.locator(tid('messages')), 'bob: the messages list');

    // alice → bob, live.
    const hello = `hi ${BOB}, this is ${ALICE} over WebTransport`;
    await a.locator(tid('message-input')).fill(hello);
    await a.locator(tid('message-send')).click();
    await expectState(
      a.locator(`${tid('message')}[data-mine="true"]`).filter({ has: a.locator(tid('message-body'), { hasText: hello }) }),
      'alice: her message shown as hers (data-mine="true")',
      { context: a.locator(tid('message')) },
    );
    const got = b.locator(`${tid('message')}[data-mine="false"]`).filter({ has: b.locator(tid('message-body'), { hasText: hello }) });
    await expectState(got, "bob: alice's message arrives live in the open conversation (no reload)", { context: b.locator(tid('message')) });
    const seq = await got.getAttribute('data-seq');
    if (!/^\d+$/.test(seq || '')) fail(`bob: the message's data-seq is ${JSON.stringify(seq)}, not a number`);
    const sender = await got.locator(tid('message-sender')).innerText();
    if (!sender.includes(ALICE)) fail(`bob: message-sender is ${JSON.stringify(sender)}, not ${ALICE}`);

    // Read receipt: bob has the conversation open, so alice sees "Seen".
    await expectState(a.locator(tid('read-receipt')).filter({ hasText: 'Seen', visible: true }).first(), 'alice: read-receipt "Seen" once bob has read', {
      context: a.locator(tid('read-receipt')),
    });

    // Typing: while bob types, alice sees "is typing".
    const reply = `hello ${ALICE}, ${BOB} here on a WebSocket`;
    const indicator = a.locator(tid('typing-indicator')).filter({ hasText: 'is typing' });
    const input = b.locator(tid('message-input'));
    await input.click();
    const [, indicatorText] = await Promise.all([
      input.pressSequentially(reply, { delay: 120, timeout: STEP }),
      // Read while it shows: it hides a few seconds after the last keystroke.
      expectState(indicator, 'alice: typing-indicator "is typing" while bob types', {
        context: a.locator(tid('typing-indicator')),
      }).then(() => indicator.textContent({ timeout: 5_000 })),
    ]);
    if (!(indicatorText || '').includes(BOB)) fail(`alice: the typing-indicator says ${JSON.stringify(indicatorText)}, without ${BOB}'s name`);

    // bob → alice, live.
    await b.locator(tid('message-send')).click();
    await expectState(
      b.locator(`${tid('message')}[data-mine="true"]`).filter({ has: b.locator(tid('message-body'), { hasText: reply }) }),
      'bob: his reply shown as his (data-mine="true")',
      { context: b.locator(tid('message')) },
    );
    await expectState(
      a.locator(`${tid('message')}[data-mine="false"]`).filter({ has: a.locator(tid('message-body'), { hasText: reply }) }),
      "alice: bob's reply arrives live",
      { context: a.locator(tid('message')) },
    );
    await expectState(a.locator(tid('typing-indicator')).filter({ visible: true }), 'alice: the typing-indicator hides once bob has sent', {
      state: 'detached',
      timeout: 15_000,
      context: a.locator(tid('typing-indicator')),
    });

    await shot(a, 'chat-desktop');
    await phoneShot(a, 'chat-phone');
    await shot(b, 'chat-desktop-bob');
  });

  await step('presence: bob leaves, alice sees him offline', async () => {
    const a = alice.page;
    await nav(a, 'nav-friends', '#/friends');
    const dot = a.locator(`${tid('friend')}[data-username="${BOB}"] ${tid('presence-dot')}`);
    await expectState(a.locator(`${tid('friend')}[data-username="${BOB}"] ${tid('presence-dot')}[data-online="true"]`), `alice: ${BOB} online before he leaves`, {
      state: 'attached',
      context: dot,
    });
    bob.closed = true;
    await bob.context.close();
    await expectState(
      a.locator(`${tid('friend')}[data-username="${BOB}"] ${tid('presence-dot')}[data-online="false"]`),
      `alice: ${BOB}'s presence-dot data-online="false" after his browser closed (1 s grace)`,
      { state: 'attached', timeout: PRESENCE_OFF, context: dot },
    );
  });

  await step('alice uploads a video, waits for the transcode and publishes it', async () => {
    const { page } = alice;
    await nav(page, 'nav-feed', '#/feed');
    await expectState(page.locator(tid('composer-video')), 'alice: composer-video', { state: 'attached' });
    // Record what the composer shows while the upload and transcode run: the
    // upload of a small clip on loopback may be over before a poll sees it.
    await page.evaluate(() => {
      const seen = { upload: false, uploadTag: '', transcode: false, disabledWhileBusy: false, statuses: [] };
      window.__e2eComposer = seen;
      const look = () => {
        const up = document.querySelector('[data-testid="upload-progress"]');
        if (up?.getClientRects().length && !up.hidden) {
          seen.upload = true;
          seen.uploadTag = up.tagName;
        }
        const tr = document.querySelector('[data-testid="transcode-progress"]');
        if (tr?.getClientRects().length && !tr.hidden) seen.transcode = true;
        const st = document.querySelector('[data-testid="media-status"]');
        const status = st ? st.textContent.trim() : '';
        if (status && seen.statuses[seen.statuses.length - 1] !== status) seen.statuses.push(status);
        const submit = document.querySelector('[data-testid="composer-submit"]');
        if (submit?.disabled && (seen.upload || /queued|processing/i.test(status))) seen.disabledWhileBusy = true;
      };
      new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
      look();
    });
    await page.locator(tid('composer-video')).setInputFiles(CLIP);
    await until(() => page.evaluate(() => window.__e2eComposer.upload), 'alice: upload-progress appears after choosing a video', STEP);
    const status = page.locator(tid('media-status'));
    try {
      await page.waitForFunction(
        () => {
          const t = document.querySelector('[data-testid="media-status"]')?.textContent.trim().toLowerCase() || '';
          return t.includes('ready') || t.includes('failed');
        },
        null,
        { timeout: TRANSCODE, polling: 250 },
      );
    } catch {
      const seen = await page.evaluate(() => window.__e2eComposer);
      fail(`alice: media-status did not reach "ready" within ${secs(TRANSCODE)} (statuses seen: ${JSON.stringify(seen.statuses)}; ${await describe(status)})`);
    }
    const final = (await status.innerText()).trim();
    const seen = await page.evaluate(() => window.__e2eComposer);
    log(`  composer: ${JSON.stringify(seen)}`);
    if (!/ready/i.test(final)) fail(`alice: the transcode ended with media-status ${JSON.stringify(final)} (statuses seen: ${JSON.stringify(seen.statuses)})`);
    if (seen.uploadTag !== 'PROGRESS') fail(`alice: upload-progress is a <${seen.uploadTag.toLowerCase()}>, not a <progress>`);
    if (!seen.disabledWhileBusy) fail(`alice: composer-submit was never disabled while the video uploaded or transcoded (statuses seen: ${JSON.stringify(seen.statuses)})`);

    const body = `a test pattern from ${ALICE} at ${suffix}`;
    const id = await publish(alice, body);
    const video = post(page, id).locator(`video${tid('post-video')}`);
    await expectState(video, `alice: the post-video <video> of post ${id}`, { context: post(page, id) });
    await video.scrollIntoViewIfNeeded();
    const poster = await video.getAttribute('poster');
    if (!poster) fail(`alice: the post-video has no poster (${await describe(video)})`);
    const posterCheck = await page.evaluate(async (src) => {
      const r = await fetch(src);
      return { ok: r.ok, status: r.status, type: r.headers.get('content-type') };
    }, poster);
    if (!posterCheck.ok || !/^image\//.test(posterCheck.type || '')) {
      fail(`alice: the poster ${poster} does not load as an image: ${JSON.stringify(posterCheck)}`);
    }
    const played = await video.evaluate(async (v) => {
      v.muted = true;
      try {
        await v.play();
        return 'ok';
      } catch (e) {
        return `${e.name}: ${e.message} (src=${v.currentSrc || v.src}, canPlayType mp4/avc1=${JSON.stringify(v.canPlayType('video/mp4; codecs="avc1.42E01E"'))})`;
      }
    });
    if (played !== 'ok') fail(`alice: video.play() failed: ${played}`);
    try {
      await video.evaluate(
        (v, timeout) =>
          new Promise((ok, no) => {
            const done = () => v.currentTime > 0 || v.readyState >= 2;
            if (done()) return ok();
            const t = setTimeout(() => no(new Error('timeout')), timeout);
            const check = () => {
              if (done()) {
                clearTimeout(t);
                ok();
              }
            };
            for (const ev of ['timeupdate', 'loadeddata', 'canplay', 'playing']) v.addEventListener(ev, check);
          }),
        STEP,
      );
    } catch {
      const state = await video.evaluate((v) => ({
        currentTime: v.currentTime,
        readyState: v.readyState,
        networkState: v.networkState,
        error: v.error && { code: v.error.code, message: v.error.message },
        src: v.currentSrc || v.src,
      }));
      fail(`alice: the video did not play within ${secs(STEP)}: ${JSON.stringify(state)}`);
    }
    await video.evaluate((v) => v.pause());
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'feed-desktop');
    await phoneShot(page, 'feed-phone');
  });

  await step('alice posts photos; the network drops half-way and the uploads resume', async () => {
    const { page, context } = alice;
    await nav(page, 'nav-feed', '#/feed');
    // The network drops once the first photo's bytes are in: from the
    // second PATCH on, every request of the uploads fails as on a dead
    // link, and the browser goes offline; then both come back.
    let patches = 0;
    let cut = false;
    networkCut = true;
    await page.route('**/api/uploads**', async (route) => {
      if (route.request().method() === 'PATCH' && ++patches === 2) cut = true;
      if (cut) return route.abort('internetdisconnected');
      return route.continue();
    });
    await page.locator(tid('composer-video')).setInputFiles(PHOTOS);
    const sent = () => page.evaluate(() => {
      const bars = [...document.querySelectorAll('[data-testid="upload-progress"]')];
      return bars.length ? bars.reduce((a, b) => a + Number(b.value), 0) / bars.length : 0;
    });
    await until(() => cut, 'alice: the uploads begin', STEP);
    await context.setOffline(true);
    const statuses = () => page.evaluate(() => [...document.querySelectorAll('[data-testid="media-status"]')].map((e) => e.textContent.trim()));
    let lastStatuses = [];
    try {
      await until(async () => {
        lastStatuses = await statuses();
        return lastStatuses.some((t) => /offline|waiting/i.test(t));
      }, 'alice: an upload says it waits for the network', STEP);
    } catch (e) {
      log(`  statuses while offline: ${JSON.stringify(lastStatuses)}, sent ${await sent()}, onLine ${await page.evaluate(() => navigator.onLine)}`);
      throw e;
    }
    const atCut = await sent();
    if (!(atCut < 1)) fail(`alice: the uploads were complete before the cut (${atCut})`);
    if (!(await page.locator(tid('composer-submit')).isDisabled())) fail('alice: Post is enabled while uploads wait for the network');
    await shot(page, 'composer-offline-desktop');
    await phoneShot(page, 'composer-offline-phone');
    cut = false;
    await context.setOffline(false);
    await until(async () => (await statuses()).every((t) => /ready|queued|processing/i.test(t)) && (await sent()) >= 1, `alice: every upload finishes after the network is back (statuses ${JSON.stringify(await statuses())})`, STEP);
    networkCut = false;
    const alts = page.locator(tid('alt-input'));
    await alts.first().fill('A test photo with grain');
    await shot(page, 'composer-desktop');
    const body = `photos from ${ALICE} at ${suffix}`;
    const id = await publish(alice, body);
    const grid = post(page, id).locator(tid('media-grid'));
    await expectState(grid, `alice: the media-grid of post ${id}`);
    const tiles = grid.locator('button.media-tile');
    await until(async () => (await tiles.count()) === PHOTOS.length, `alice: ${PHOTOS.length} ready photo tiles in post ${id}`, STEP);
    await until(() => tiles.first().locator('img').evaluate((img) => img.complete && img.naturalWidth > 0), 'alice: the first tile\'s picture loads', STEP);
    await grid.scrollIntoViewIfNeeded();
    await shot(page, 'grid-desktop');
    await phoneShot(page, 'grid-phone');
    await tiles.first().click();
    const box = page.locator(tid('lightbox'));
    await expectState(box, 'alice: the lightbox opens');
    await until(() => box.locator('img').first().evaluate((img) => img.complete && img.naturalWidth > 0), 'alice: the lightbox picture loads', STEP);
    const alt = await box.locator('img').first().getAttribute('alt');
    if (alt !== 'A test photo with grain') fail(`alice: the lightbox picture's alt is ${JSON.stringify(alt)}`);
    // The viewport, not the whole page: the lightbox covers the screen.
    await page.screenshot({ path: join(SHOTS, 'lightbox-desktop.png'), timeout: STEP });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: join(SHOTS, 'lightbox-phone.png'), timeout: STEP });
    await page.setViewportSize(DESKTOP);
    await page.keyboard.press('ArrowRight');
    await until(async () => (await box.locator('img').first().getAttribute('alt')) !== alt, 'alice: ArrowRight shows the next photo', STEP);
    await page.keyboard.press('Escape');
    await expectState(box, 'alice: Escape closes the lightbox', { state: 'hidden' });
    await page.unroute('**/api/uploads**');
  });

  await step('notifications and profile', async () => {
    const { page } = alice;
    // bob accepted her request, liked and commented: unread notifications.
    await expectState(page.locator(tid('notif-count')).filter({ visible: true }), 'alice: notif-count badge shows unread notifications', {
      state: 'attached',
      context: page.locator(tid('notif-count')),
    });
    await nav(page, 'nav-notifications', '#/notifications');
    await expectState(page.locator(tid('notification')).first(), 'alice: her notifications');
    await shot(page, 'notifications-desktop');
    await page.locator(tid('mark-all-read')).click();
    await expectState(page.locator(`${tid('notification')}[data-read="false"]`), 'alice: no unread notification after mark-all-read', {
      state: 'detached',
      context: page.locator(tid('notification')),
    });
    await expectState(page.locator(tid('notif-count')).filter({ visible: true }), 'alice: notif-count hidden after mark-all-read', {
      state: 'detached',
      context: page.locator(tid('notif-count')),
    });

    await nav(page, 'nav-profile', '#/u/');
    await expectState(page.locator(tid('profile-name')).filter({ hasText: ALICE }), `alice: profile-name names ${ALICE}`, {
      context: page.locator(tid('profile-name')),
    });
    await expectState(page.locator(`article${tid('post')}`).first(), 'alice: her posts on her profile', {
      context: page.locator(`article${tid('post')}`),
    });
    await shot(page, 'profile-desktop');

    // A new avatar: choose a photo, crop it square, save; it replaces the
    // initials in the profile header, the shell and her posts.
    await page.locator(tid('avatar-file')).setInputFiles(PHOTOS[0]);
    const crop = page.locator(tid('crop-dialog'));
    await expectState(crop, 'alice: the crop dialog opens');
    await page.screenshot({ path: join(SHOTS, 'avatar-crop-desktop.png'), timeout: STEP });
    await page.locator(tid('crop-save')).click();
    await expectState(crop, 'alice: the crop dialog closes', { state: 'hidden' });
    await until(
      () => page.evaluate(() => [...document.querySelectorAll('img.avatar, .avatar img')].some((i) => /-a(48|96|256)\.webp/.test(i.currentSrc || i.src) && i.complete && i.naturalWidth > 0)),
      'alice: her new avatar shows',
      STEP,
    );
    // On her posts already on the page too, not only in the header.
    await until(
      () => page.evaluate(() => {
        const heads = [...document.querySelectorAll('article[data-testid="post"] .post-head img.avatar')];
        return heads.length > 0 && heads.every((i) => /-a(48|96|256)\.webp/.test(i.currentSrc || i.src));
      }),
      'alice: her new avatar on her posts',
      STEP,
    );
    await shot(page, 'profile-avatar-desktop');
    await phoneShot(page, 'profile-avatar-phone');
  });

  await step('alice edits her display name and bio on #/settings', async () => {
    const { page } = alice;
    await nav(page, 'nav-settings', '#/settings');
    const section = await settingsSection(alice, 'profile');
    const name = `Alice of ${suffix}`;
    const bio = `Tests kith for a living.\nLikes: video, photos and ${BOB}.`;
    await section.locator(tid('settings-display-name')).fill(name);
    const bioInput = section.locator(tid('settings-bio'));
    await bioInput.fill('x'.repeat(301));
    await expectState(section.locator(`${tid('bio-count')}.over-limit`).filter({ hasText: '301 / 300' }), 'alice: the bio counter shows 301 / 300 as over the limit', {
      context: section.locator(tid('bio-count')),
    });
    if (!(await section.locator(tid('profile-save')).isDisabled())) fail('alice: Save is enabled with a 301-character bio');
    await bioInput.fill(bio);
    await expectState(section.locator(tid('bio-count')).filter({ hasText: `${[...bio].length} / 300` }), 'alice: the bio counter counts', {
      context: section.locator(tid('bio-count')),
    });
    await section.locator(tid('profile-save')).click();
    await expectState(section.locator(tid('profile-status')).filter({ hasText: 'Saved' }), 'alice: "Saved." after saving her profile', {
      context: section.locator(tid('profile-status')),
    });
    const me = await page.evaluate(async () => (await fetch('/api/me')).json());
    if (me.user.display_name !== name || me.user.bio !== bio) fail(`alice: /api/me after saving: ${JSON.stringify({ display_name: me.user.display_name, bio: me.user.bio })}`);
    await nav(page, 'nav-profile', '#/u/');
    await expectState(page.locator(tid('profile-bio')).filter({ hasText: 'Tests kith for a living.' }), 'alice: her bio on her profile', {
      context: page.locator(tid('profile-card')),
    });
  });

  await step('alice mutes bob from his profile and unmutes him in her settings', async () => {
    const { page } = alice;
    await go(page, `u/${BOB}`);
    await page.locator(tid('profile-menu')).click();
    await page.locator(tid('profile-mute')).click();
    await expectState(page.locator(tid('profile-muted')), 'alice: bob\'s profile says Muted');
    await page.locator(tid('profile-menu')).click();
    await expectState(page.locator(tid('profile-unmute')), 'alice: the menu offers Unmute once bob is muted');
    await page.keyboard.press('Escape');
    await nav(page, 'nav-settings', '#/settings');
    const section = await settingsSection(alice, 'mutes');
    const row = section.locator(`${tid('muted-user')}[data-username="${BOB}"]`);
    await expectState(row, `alice: ${BOB} under her muted people`, { context: section });
    await settingsTour(alice, ['profile', 'security', 'sessions', 'email', 'mutes']);
    await settingsSection(alice, 'mutes');
    await row.locator(tid('unmute')).click();
    await expectState(row, `alice: ${BOB} leaves the muted list once unmuted`, { state: 'detached' });
    await expectState(section.locator(tid('empty-state')), 'alice: the muted list says nobody is muted');
  });

  await step('alice changes her password; her second browser is signed out, this one stays in', async () => {
    alice2 = await newUser('alice-2');
    await login(alice2, ALICE, PASSWORD(ALICE));
    await until(() => liveNow(alice2), "alice's second browser: the realtime connection opens");
    const { page } = alice;
    const sessions = await settingsSection(alice, 'sessions');
    await until(async () => (await sessions.locator(tid('session')).count()) === 2, 'alice: two devices under Devices (reload the section)', STEP).catch(async () => {
      await settingsSection(alice, 'security');
      await settingsSection(alice, 'sessions');
      await until(async () => (await sessions.locator(tid('session')).count()) === 2, 'alice: two devices under Devices');
    });
    await expectState(sessions.locator(`${tid('session')}[data-current="true"] ${tid('session-current')}`), 'alice: "This device" on one of them');
    await shot(page, 'settings-sessions-two-desktop');

    const section = await settingsSection(alice, 'security');
    refusedOnPurpose.add('alice 403 /api/me/password');
    await section.locator(tid('current-password')).fill('not my password');
    await section.locator(tid('new-password')).fill(NEW_PASSWORD);
    await section.locator(tid('confirm-password')).fill(NEW_PASSWORD);
    await section.locator(tid('password-save')).click();
    await expectState(section.locator(tid('password-error')).filter({ hasText: /current password is not right/i }), 'alice: a wrong current password is refused', {
      context: section.locator(tid('password-error')),
    });
    await shot(page, 'settings-security-error-desktop');
    refusedOnPurpose.delete('alice 403 /api/me/password');
    signedOutOnPurpose.add('alice-2');
    await section.locator(tid('current-password')).fill(PASSWORD(ALICE));
    await section.locator(tid('password-save')).click();
    await expectState(section.locator(tid('password-status')).filter({ hasText: /changed/i }), 'alice: "Your password is changed"', {
      context: section.locator(tid('password-status')),
    });
    alice.password = NEW_PASSWORD;

    const notice = alice2.page.locator(tid('auth-notice')).filter({ hasText: /signed out/i });
    await expectState(notice, "alice's second browser: the sign-in page says she was signed out", { context: alice2.page.locator('main') });
    await shot(alice2.page, 'signed-out-desktop');
    await phoneShot(alice2.page, 'signed-out-phone');
    // This browser stays signed in and its connection comes back.
    await until(() => liveNow(alice), 'alice: her realtime connection is open again after the new password', STEP);
    await expectState(page.locator(tid('logout')), 'alice: still signed in');
    const again = await settingsSection(alice, 'sessions');
    await until(async () => (await again.locator(tid('session')).count()) === 1, 'alice: one device left under Devices');
    alice2.closed = true;
    await alice2.context.close();
  });

  await step('alice blocks bob on his profile, then unblocks him', async () => {
    const { page } = alice;
    await go(page, `u/${BOB}`);
    await expectState(page.locator(tid('profile-block')), 'alice: the Block button on bob\'s profile');
    await page.locator(tid('profile-block')).click();
    // Blocking asks first, in the same dialog as every destructive action.
    await expectState(page.locator(`dialog${tid('confirm-dialog')}[open]`), 'alice: blocking asks first');
    await page.locator(tid('confirm-ok')).click();
    await expectState(page.locator(tid('profile-unblock')), 'alice: the Unblock button after blocking bob');
    await page.locator(tid('profile-unblock')).click();
    await expectState(page.locator(tid('profile-add')), 'alice: the Add friend button after unblocking bob');
  });

  await step('carol signs up, is made an admin with the CLI and makes an invite', async () => {
    carol = await newUser('carol');
    carol.name = CAROL;
    await signup(carol, CAROL, false);
    if (await carol.page.locator(tid('nav-admin')).filter({ visible: true }).count()) fail('carol: the Admin link shows before she is an admin');
    await nav(carol.page, 'nav-feed', '#/feed');
    await publish(carol, `carol of ${suffix} keeps the lights on`);
    if (!KITH_BIN || !KITH_DB) {
      log('  KITH_BIN or KITH_DB unset: carol stays a plain user and the admin steps are skipped');
      return;
    }
    execFileSync(KITH_BIN, ['admin', 'user', 'make-admin', CAROL, '--db', KITH_DB], { stdio: 'pipe', timeout: STEP });
    carol.admin = true;
    await carol.page.reload({ waitUntil: 'domcontentloaded' });
    await expectState(carol.page.locator(tid('nav-admin')).filter({ visible: true }), 'carol: the Admin link once she is an admin', {
      context: carol.page.locator(tid('nav-admin')),
    });
    await nav(carol.page, 'nav-settings', '#/settings');
    const section = await settingsSection(carol, 'invites');
    await section.locator(tid('invite-uses')).selectOption('5');
    await section.locator(tid('invite-create')).click();
    const invite = section.locator(`${tid('invite')}[data-status="active"]`).first();
    await expectState(invite, 'carol: her new invite, active', { context: section });
    const url = await invite.locator(tid('invite-url')).inputValue();
    if (!/\/#\/signup\/[^/]+$/.test(url)) fail(`carol: the invite link ${url} is not <public>/#/signup/<code>`);
    await expectState(invite.locator(tid('invite-uses-count')).filter({ hasText: '0 of 5 uses' }), 'carol: the invite shows 0 of 5 uses', { context: invite });
    await settingsTour(carol, ['invites']);
  });

  await step('carol resolves the report of alice\'s post by banning alice; alice is signed out', async () => {
    if (!carol.admin) {
      log('  carol is no admin (KITH_BIN/KITH_DB unset): skipped');
      return;
    }
    const stepsFile = join(dirname(fileURLToPath(import.meta.url)), 'admin-steps.mjs');
    if (!existsSync(stepsFile)) {
      log('  e2e/admin-steps.mjs is missing: the console steps are skipped');
      return;
    }
    const adminSteps = await import('./admin-steps.mjs');
    signedOutOnPurpose.add('alice');
    await nav(carol.page, 'nav-admin', '#/admin');
    await adminSteps.resolveReportWithBan({ page: carol.page, shot, phoneShot, expectState, log, reportedUser: ALICE });
    aliceBanned = true;
    // The ban's socket close says "banned", and so does the 401 of a
    // request that hits the ended session first.
    const notice = alice.page.locator(tid('auth-notice')).filter({ hasText: /banned/i });
    await expectState(notice, 'alice: the sign-in page says her account is banned', { context: alice.page.locator('main') });
    await shot(alice.page, 'banned-desktop');
    await phoneShot(alice.page, 'banned-phone');
  });

  await step('alice (or carol, once alice is banned) downloads her data, then deletes her account', async () => {
    const leaver = aliceBanned ? carol : alice;
    const { page, who, name } = leaver;
    const password = leaver.password || PASSWORD(name);
    await nav(page, 'nav-profile', '#/u/');
    await expectState(page.locator(tid('profile-export')), `${who}: the Download my data link`);
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: STEP }),
      page.locator(tid('profile-export')).click(),
    ]);
    const saved = await download.path();
    const data = JSON.parse(await readFile(saved, 'utf8'));
    if (data.user?.username !== name || !Array.isArray(data.posts) || data.posts.length < 1) {
      fail(`${who}: the export is not hers or lacks her posts: ${JSON.stringify(data).slice(0, 300)}`);
    }
    await page.locator(tid('profile-delete')).click();
    await page.locator(tid('delete-password')).fill(password);
    await page.locator(tid('delete-confirm')).click();
    // It asks once more; Cancel keeps the account, then it goes for real.
    const dialog = page.locator(`dialog${tid('confirm-dialog')}[open]`);
    await expectState(dialog, `${who}: deleting the account asks first`);
    await dialog.locator(tid('confirm-cancel')).click();
    await expectState(dialog, `${who}: the dialog closes on Cancel`, { state: 'detached' });
    if ((await page.request.get('/api/me')).status() !== 200) fail(`${who}: Cancel deleted the account`);
    await page.locator(tid('delete-confirm')).click();
    await expectState(dialog, `${who}: deleting the account asks again`);
    await shot(page, 'delete-account-confirm');
    await dialog.locator(tid('confirm-ok')).click();
    await expectState(page.locator(tid('go-signup')).or(page.locator(tid('login-username'))).first(), `${who}: the login page after deleting her account`);
    const me = await page.request.get('/api/me');
    if (me.status() !== 401) fail(`${who}: /api/me answers ${me.status()} after her account was deleted`);
  });

  await step('no console errors', async () => {
    if (errors.length) fail(`${errors.length} console error(s) in the pages (listed below)`);
  });

  clearTimeout(watchdog);
  await alice.context.close();
  if (carol) await carol.context.close();
  await browser.close();
  log(`PASSED: every step, no console errors; screenshots in ${SHOTS}`);
  process.exit(0);
} catch (e) {
  clearTimeout(watchdog);
  const msg = e instanceof Failure ? e.message : e?.stack ? e.stack : String(e);
  console.error(`e2e: FAILED in step "${current}" after ${elapsed()}:\n  ${msg}`);
  printErrors(console.error);
  await Promise.race([failureShots(), new Promise((r) => setTimeout(r, 10_000))]);
  await Promise.race([browser.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
  process.exit(1);
}
