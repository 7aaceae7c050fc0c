// The helpers of the everyday e2e (e2e/everyday.mjs): one object `k` that
// every step module (e2e/everyday/*.mjs) receives as `run(k)`.
//
//   k.base                      kith's origin (KITH_URL)
//   k.step(name, fn)            runs a named step; fails it on any console
//                               error it caused (unless expected, below)
//   k.expectState(locator, what, { state = 'visible', timeout = 30 s, context })
//   k.until(fn, what, timeoutMs = 30 s)   polls an async predicate until true
//   k.shot(page, name)          full-page PNG at the current size: $SCREENSHOTS/<name>.png
//   k.sizes(page, name)         <name>-1280.png and <name>-390.png, back to 1280x800
//   k.checkPage(page, name)     axe-core (WCAG 2.0/2.1 A and AA: any violation
//                               fails) and no horizontal overflow at 320, 390
//                               and 1280 px; back to 1280x800
//   k.tid(id)                   '[data-testid="id"]'
//   k.log(msg), k.fail(msg)     a timestamped line; throw a step failure
//   k.expectErrors(re, fn)      console errors matching `re` while fn runs are
//                               logged, not failures (nestable)
//   k.newUser(who, { forceWebSocket, viaProxy, signup })
//                               a fresh browser context (1280x800) and page:
//                               { who, name, password, display, displayName,
//                               base, context, page }. Signed OUT unless
//                               `signup: true` (then signed up through #/signup
//                               as `name`, with `password` and display name).
//                               viaProxy: its `base` is k.proxy.url.
//   k.signup(user, { viaProxy })  signs `user` up through #/signup on user.page
//   k.login(user, { viaProxy, page })  signs in through #/login
//   k.api(page, method, path, body)  fetch from the page (same session):
//                               { status, body } (JSON or null); never throws on
//                               a status (but Chromium logs 4xx/5xx as errors)
//   k.makeAdmin(user)           `kith admin user make-admin` with KITH_BIN and
//                               KITH_DB; false (and logs why) when unset
//   k.proxy                     a TCP proxy in front of kith on a loopback port:
//                               .url (its origin), await .stop() (refuses and
//                               cuts live connections), await .start()
//   k.users                     { alice, bob, carol } (set by everyday.mjs)
//   k.errors                    the console errors so far (strings)

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { chromium, errors as pwErrors } from 'playwright-core';

export const STEP = 30_000;
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
const WIDTHS = [320, 390, 1280];
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

export class Failure extends Error {}
const isTimeout = (e) => e instanceof pwErrors.TimeoutError || e?.name === 'TimeoutError';
const firstLine = (e) => (e?.message ? e.message.split('\n')[0] : String(e));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const secs = (ms) => `${Math.round(ms / 100) / 10}s`;

/** The axe-core source, injected with page.evaluate (kith's CSP forbids inline scripts; evaluate is not subject to it). */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** A short description of what the locator matches now, for error messages. */
export async function describe(locator) {
  try {
    const n = await locator.count();
    if (n === 0) return 'no such element on the page';
    const html = await locator.first().evaluate((e) => e.outerHTML);
    return `${n} element(s); first: ${html.length > 400 ? `${html.slice(0, 400)}…` : html}`;
  } catch (e) {
    return `(could not inspect: ${firstLine(e)})`;
  }
}

/** Where a console message came from: " at URL:LINE (page URL)". */
export function consoleWhere(m) {
  const loc = m.location();
  const where = loc?.url ? ` at ${loc.url}${loc.lineNumber ? `:${loc.lineNumber}` : ''}` : '';
  return `${where}${pageOf(m)}`;
}

/** An uncaught page error as a line: "uncaught STACK (page URL)". */
export function uncaught(e) {
  const err = e.error();
  return `uncaught ${err?.stack ? err.stack : err}${pageOf(e)}`;
}

function pageOf(x) {
  try {
    return x.page() ? ` (page ${x.page().url()})` : '';
  } catch {
    return '';
  }
}

/**
 * A TCP proxy on 127.0.0.1 (a free port, kept across stop/start) forwarding
 * to `target` (an http origin).
 */
export async function tcpProxy(target) {
  const t = new URL(target);
  const host = t.hostname;
  const targetPort = Number(t.port || 80);
  let server = null;
  const socks = new Set();
  let port = 0;
  const listen = () =>
    new Promise((resolve, reject) => {
      const s = net.createServer((c) => {
        const up = net.connect(targetPort, host);
        socks.add(c);
        socks.add(up);
        c.pipe(up);
        up.pipe(c);
        const end = () => {
          c.destroy();
          up.destroy();
          socks.delete(c);
          socks.delete(up);
        };
        for (const x of [c, up]) {
          x.on('error', end);
          x.on('close', end);
        }
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = s.address().port;
        resolve(s);
      });
    });
  const proxy = {
    url: '',
    get running() {
      return !!server;
    },
    async start() {
      if (server) return;
      // The port may linger a moment after stop(): retry briefly.
      for (let i = 0; ; i++) {
        try {
          server = await listen();
          break;
        } catch (e) {
          if (i >= 20) throw e;
          await sleep(100);
        }
      }
      proxy.url = `http://127.0.0.1:${port}`;
    },
    async stop() {
      if (!server) return;
      const s = server;
      server = null;
      for (const x of socks) x.destroy();
      socks.clear();
      await new Promise((r) => s.close(() => r()));
    },
  };
  await proxy.start();
  return proxy;
}

/**
 * Launches Chromium and makes `k`. opts: { base, shots, chromium, headed,
 * kithBin, kithDb, started, suffix }.
 */
export async function createKit(opts) {
  const started = opts.started || Date.now();
  const suffix = opts.suffix || String(Date.now() % 100000).padStart(5, '0');
  mkdirSync(opts.shots, { recursive: true });

  const elapsed = () => secs(Date.now() - started).padStart(6);
  const log = (msg) => console.log(`[${elapsed()}] ${msg}`);
  const fail = (msg) => {
    throw new Failure(msg);
  };
  const tid = (id) => `[data-testid="${id}"]`;

  const errors = [];
  const expected = [];
  const contexts = [];
  let current = 'start';

  function watch(context, who) {
    context.on('console', (m) => {
      if (m.type() !== 'error') return;
      const text = m.text();
      if (expected.some((re) => re.test(text))) {
        log(`  (expected) ${who}: ${text}`);
        return;
      }
      errors.push(`${who}, step "${current}": console error: ${text}${consoleWhere(m)}`);
    });
    context.on('weberror', (e) => {
      errors.push(`${who}, step "${current}": ${uncaught(e)}`);
    });
  }

  const browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: !opts.headed,
    timeout: STEP,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });

  const proxy = await tcpProxy(opts.base);

  const k = {
    base: opts.base,
    suffix,
    shots: opts.shots,
    browser,
    proxy,
    errors,
    contexts,
    users: {},
    tid,
    log,
    fail,
    describe,
    get current() {
      return current;
    },

    async step(name, fn) {
      const before = errors.length;
      current = name;
      const t = Date.now();
      log(`step: ${name}`);
      await fn();
      // Console errors arrive asynchronously: give the last ones a moment.
      await sleep(100);
      if (errors.length > before) {
        fail(`console error(s) during the step:\n    ${errors.slice(before).join('\n    ')}`);
      }
      log(`  ok (${secs(Date.now() - t)})`);
    },

    async expectErrors(re, fn) {
      expected.push(re);
      try {
        return await fn();
      } finally {
        // Late errors (a failed load logged just after) are still expected.
        await sleep(200);
        expected.splice(expected.indexOf(re), 1);
      }
    },

    async expectState(locator, what, { state = 'visible', timeout = STEP, context } = {}) {
      const target = state === 'detached' || state === 'hidden' ? locator.first() : locator;
      try {
        await target.waitFor({ state, timeout });
      } catch (e) {
        const now = await describe(context || locator);
        if (isTimeout(e)) fail(`${what}: not ${state} within ${secs(timeout)} (${now})`);
        fail(`${what}: ${firstLine(e)} (${now})`);
      }
    },

    async until(fn, what, timeout = STEP) {
      const deadline = Date.now() + timeout;
      let last;
      while (Date.now() < deadline) {
        try {
          last = await fn();
          if (last === true) return;
        } catch (e) {
          last = firstLine(e);
        }
        await sleep(100);
      }
      fail(`${what}: not true within ${secs(timeout)}${last !== undefined && last !== false ? ` (last: ${last})` : ''}`);
    },

    async shot(page, name) {
      const path = join(opts.shots, `${name.replace(/[^\w.-]+/g, '_')}.png`);
      await page.screenshot({ path, fullPage: true, timeout: STEP });
      log(`  screenshot ${path}`);
    },

    async sizes(page, name) {
      try {
        await page.setViewportSize(DESKTOP);
        await settle(page);
        await k.shot(page, `${name}-1280`);
        await page.setViewportSize(PHONE);
        await settle(page);
        await k.shot(page, `${name}-390`);
      } finally {
        await page.setViewportSize(DESKTOP);
      }
    },

    async checkPage(page, name) {
      try {
        await page.setViewportSize(DESKTOP);
        await settle(page);
        await axeCheck(page, name);
        const problems = [];
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 800 });
          await settle(page);
          const o = await overflow(page);
          if (o) problems.push(`at ${width} px the page is ${o.scrollWidth} px wide (window ${o.innerWidth}); widest: ${o.widest.join('; ') || '(none found)'}`);
        }
        if (problems.length) fail(`${name}: horizontal overflow on ${page.url()}:\n    ${problems.join('\n    ')}`);
        log(`  checked ${name}: axe clean, fits at ${WIDTHS.join(', ')} px`);
      } finally {
        await page.setViewportSize(DESKTOP).catch(() => {});
      }
    },

    async newUser(who, { forceWebSocket = false, viaProxy = false, signup = false } = {}) {
      const base = viaProxy ? proxy.url : opts.base;
      const context = await browser.newContext({ viewport: DESKTOP, baseURL: base });
      context.setDefaultTimeout(STEP);
      context.setDefaultNavigationTimeout(STEP);
      watch(context, who);
      contexts.push({ who, context });
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
      const slug = who.replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 12) || 'user';
      const display = `${slug[0].toUpperCase()}${slug.slice(1)} Everyday`;
      const u = { who, name: `${slug}${suffix}`, password: `password-${slug}-${suffix}-e2e`, display, displayName: display, base, context, page };
      if (signup) await k.signup(u, { viaProxy });
      return u;
    },

    async signup(u, { viaProxy = false } = {}) {
      const { page } = u;
      const origin = viaProxy ? proxy.url : opts.base;
      await page.goto(`${origin}/#/signup`, { waitUntil: 'domcontentloaded' });
      await k.expectState(page.locator(tid('signup-username')), `${u.who}: the sign-up form`);
      await page.locator(tid('signup-username')).fill(u.name);
      const display = page.locator(tid('signup-display-name'));
      if (u.display && (await display.count())) await display.fill(u.display);
      await page.locator(tid('signup-password')).fill(u.password);
      await page.locator(tid('signup-submit')).click();
      const outcome = page.locator(`${tid('logout')}, ${tid('form-error')}`).filter({ visible: true }).first();
      await k.expectState(outcome, `${u.who}: signing up (neither the app shell's logout button nor a form error appeared)`);
      if ((await outcome.getAttribute('data-testid')) === 'form-error') {
        fail(`${u.who}: signing up as ${u.name} failed: form-error says ${JSON.stringify(await outcome.innerText())}`);
      }
    },

    async login(u, { viaProxy = false, page = u.page } = {}) {
      const origin = viaProxy ? proxy.url : opts.base;
      await page.goto(`${origin}/#/login`, { waitUntil: 'domcontentloaded' });
      await k.expectState(page.locator(tid('login-username')), `${u.who}: the sign-in form`);
      await page.locator(tid('login-username')).fill(u.name);
      await page.locator(tid('login-password')).fill(u.password);
      await page.locator(tid('login-submit')).click();
      await k.expectState(page.locator(tid('logout')).first(), `${u.who}: signed in as ${u.name}`);
    },

    api(page, method, path, body) {
      return page.evaluate(
        async ([m, p, b]) => {
          const r = await fetch(p, { method: m, headers: { 'content-type': 'application/json' }, body: b === undefined ? undefined : JSON.stringify(b) });
          const text = await r.text();
          let json = null;
          try {
            json = text ? JSON.parse(text) : null;
          } catch {
            json = text;
          }
          return { status: r.status, body: json };
        },
        [method, path, body],
      );
    },

    makeAdmin(u) {
      if (!opts.kithBin || !opts.kithDb) {
        log(`  KITH_BIN or KITH_DB unset: ${u.who} is not made an admin`);
        return false;
      }
      execFileSync(opts.kithBin, ['admin', 'user', 'make-admin', u.name, '--db', opts.kithDb], { stdio: 'pipe', timeout: STEP });
      u.admin = true;
      return true;
    },

    /** Failure screenshots of every open page: failure-<who>[-n].png. */
    async failureShots(tag = '') {
      for (const { who, context } of contexts) {
        let n = 0;
        for (const page of context.pages()) {
          const name = `failure-${tag ? `${tag}-` : ''}${who}${n ? `-${n}` : ''}`.replace(/[^\w.-]+/g, '_');
          n++;
          try {
            await page.screenshot({ path: join(opts.shots, `${name}.png`), fullPage: true, timeout: 5_000 });
            console.error(`e2e: ${who}'s page (${page.url()}) is in ${join(opts.shots, `${name}.png`)}`);
          } catch {}
        }
      }
    },

    async close() {
      await Promise.race([browser.close().catch(() => {}), sleep(10_000)]);
      await proxy.stop().catch(() => {});
    },
  };
  return k;
}

/** Waits for layout, busy markers and finite animations to settle (bounded). */
async function settle(page) {
  await page
    .evaluate(async () => {
      // A frame, or half a second: a page Chromium counts as hidden gets no
      // animation frames, and this wait must end all the same.
      const frame = () => new Promise((r) => {
        requestAnimationFrame(() => r());
        setTimeout(r, 500);
      });
      const deadline = Date.now() + 3_000;
      while (document.querySelector('[aria-busy="true"]') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const finite = document.getAnimations().filter((a) => a.effect?.getComputedTiming().iterations !== Number.POSITIVE_INFINITY);
      await Promise.race([Promise.all(finite.map((a) => a.finished.catch(() => {}))), new Promise((r) => setTimeout(r, 1_500))]);
      await frame();
      await frame();
    })
    .catch(() => {});
}

async function axeCheck(page, name) {
  const has = await page.evaluate(() => typeof window.axe === 'object').catch(() => false);
  if (!has) await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate(async (tags) => {
    const res = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return res.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 6).map((n) => ({
        target: n.target.join(' '),
        html: n.html.length > 160 ? `${n.html.slice(0, 160)}…` : n.html,
        summary: (n.failureSummary || '').split('\n').slice(1, 2).join(' ').trim(),
      })),
      count: v.nodes.length,
    }));
  }, AXE_TAGS);
  if (!violations.length) return;
  const lines = [];
  for (const v of violations) {
    lines.push(`${v.id} (${v.impact}): ${v.help} — ${v.count} element(s)`);
    for (const n of v.nodes) lines.push(`      ${n.target}  ${n.html}${n.summary ? `  [${n.summary}]` : ''}`);
  }
  throw new Failure(`${name}: axe found ${violations.length} WCAG 2 A/AA violation(s) on ${page.url()}:\n    ${lines.join('\n    ')}`);
}

/** null when the page fits its window; else its width and the widest elements sticking out. */
function overflow(page) {
  return page.evaluate(() => {
    const doc = document.documentElement;
    const innerWidth = window.innerWidth;
    if (doc.scrollWidth <= innerWidth) return null;
    const clipped = (el) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const ox = getComputedStyle(p).overflowX;
        if (ox !== 'visible') return true;
      }
      return false;
    };
    const name = (el) => {
      let s = el.tagName.toLowerCase();
      if (el.id) s += `#${el.id}`;
      const t = el.getAttribute('data-testid');
      if (t) s += `[data-testid="${t}"]`;
      const cls = [...el.classList].slice(0, 3);
      if (cls.length) s += `.${cls.join('.')}`;
      return s;
    };
    const out = [];
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || (r.right <= innerWidth + 0.5 && r.left >= -0.5)) continue;
      if (clipped(el)) continue;
      out.push({ el, right: r.right, width: r.width });
    }
    // Report the outermost offenders first (their children overflow with them).
    const outer = out.filter((o) => !out.some((p) => p.el !== o.el && p.el.contains(o.el) && p.right >= o.right));
    outer.sort((a, b) => b.right - a.right);
    return {
      scrollWidth: doc.scrollWidth,
      innerWidth,
      widest: outer.slice(0, 5).map((o) => `${name(o.el)} (right edge ${Math.round(o.right)} px, ${Math.round(o.width)} px wide)`),
    };
  });
}
