// Everyday e2e: the connection, the shell and routing.
//
// bob (WebSocket forced) browses through k.proxy, a TCP proxy in front of
// kith. The proxy stops for 10 s: the offline banner shows (with its
// countdown and "Retry now"), the feed opened meanwhile fails once,
// gracefully; the proxy starts again: the connection is back within 5 s
// without a click and the feed shows its posts by itself. "Retry now"
// reconnects at once. Then: signing in from a #/chat/… link lands on that
// chat, an unknown address shows the not-found page (signed in and out),
// and every page fits at 320, 390 and 1280 px (k.checkPage).

export const title = 'connection, shell and routing';

const OUTAGE_MS = 10_000;
/** The connection must be back this soon after the server is, without a click. */
const BACK_WITHIN_MS = 5_000;
/** ...and this soon after "Retry now". */
const RETRY_WITHIN_MS = 1_500;
/** What Chromium logs while the proxy refuses connections. */
const OFFLINE_ERRORS = /ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE|Failed to load resource|WebSocket/;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function run(k) {
  const { alice, bob } = k.users;
  const tid = k.tid;
  const openSel = `${tid('transport')}[data-state="open"]`;
  const banner = (page) => page.locator(tid('offline-banner'));
  const visibleCount = (page, selector) => page.evaluate((sel) => [...document.querySelectorAll(sel)]
    .filter((e) => e.offsetParent !== null || getComputedStyle(e).position === 'fixed').length, selector);

  /** Signs `user` in on `page` from the sign-in page at `origin`. */
  async function signIn(page, user, origin, hash = '#/login') {
    await page.goto(`${origin}/${hash}`, { waitUntil: 'domcontentloaded' });
    await k.expectState(page.locator(tid('login-username')), `${user.who}: the sign-in page`);
    await page.locator(tid('login-username')).fill(user.name);
    await page.locator(tid('login-password')).fill(user.password);
    await page.locator(tid('login-submit')).click();
    await k.expectState(page.locator(tid('logout')).first(), `${user.who}: signed in`);
  }

  let viaProxy;
  let postId;
  let convId;

  await k.step('the indicator speaks plainly (no transport names on screen)', async () => {
    const { page } = alice;
    await page.goto(`${k.base}/#/feed`, { waitUntil: 'domcontentloaded' });
    await k.expectState(page.locator(openSel).first(), 'alice: the realtime connection is open', { state: 'attached' });
    const label = (await page.locator(`${tid('transport')} .conn-label`).first().textContent()).trim();
    if (label !== 'Connected') k.fail(`alice: the connection indicator says ${JSON.stringify(label)}, expected "Connected"`);
    const shown = await page.locator('body').innerText();
    if (/WebTransport|WebSocket/.test(shown)) k.fail('alice: a transport name is shown as text on the page');
    if (await banner(page).isVisible()) k.fail('alice: the offline banner shows while connected');
  });

  await k.step('bob browses through the proxy (WebSocket)', async () => {
    viaProxy = await bob.context.newPage();
    await signIn(viaProxy, bob, k.proxy.url);
    await k.expectState(viaProxy.locator(openSel).first(), 'bob (proxy): the realtime connection is open', { state: 'attached' });
    const transport = await viaProxy.locator(tid('transport')).first().getAttribute('data-transport');
    if (transport !== 'websocket') k.fail(`bob (proxy): data-transport is ${JSON.stringify(transport)}, expected "websocket"`);
    // Something for the feed to show once it is back, and a chat to link to.
    ({ postId, convId } = await viaProxy.evaluate(async (friend) => {
      const json = (res) => (res.ok ? res.json() : Promise.reject(new Error(`${res.url} ${res.status}`)));
      const post = await fetch('/api/posts', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ body: 'Still here after the outage', visibility: 'friends' }),
      }).then(json);
      const conv = await fetch('/api/conversations', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ members: [friend] }),
      }).then(json);
      return { postId: post.post.id, convId: conv.id || conv.conversation?.id };
    }, alice.name));
    if (!postId || !convId) k.fail(`bob: could not make a post (${postId}) and a conversation (${convId})`);
    await viaProxy.goto(`${k.proxy.url}/#/notifications`, { waitUntil: 'domcontentloaded' });
    await k.expectState(viaProxy.locator(openSel).first(), 'bob (proxy): connected on the notifications page', { state: 'attached' });
  });

  await k.expectErrors(OFFLINE_ERRORS, async () => {
    await k.step('the server is down for 10 s: banner, a feed that fails once, back by itself', async () => {
      const page = viaProxy;
      const down = Date.now();
      await k.proxy.stop();
      await k.expectState(banner(page), 'bob (proxy): the offline banner shows', { timeout: 5_000 });
      await k.expectState(page.locator(tid('retry-now')), 'bob (proxy): the banner offers "Retry now"');
      const words = await banner(page).innerText();
      if (!/Offline/.test(words) || !/trying again in \d+ s|connecting/i.test(words)) {
        k.fail(`bob (proxy): the banner says ${JSON.stringify(words)}, expected "Offline — trying again in N s"`);
      }
      const role = await banner(page).getAttribute('role');
      if (role !== 'status' && role !== 'alert') k.fail(`bob (proxy): the banner's role is ${role}`);
      await k.sizes(page, 'connection-offline-banner');

      // The feed, opened during the outage: one clear error, no "Load more".
      await page.evaluate(() => {
        location.hash = '#/feed';
      });
      await k.expectState(page.locator(tid('list-error')), 'bob (proxy): the feed says it could not load', { timeout: 10_000 });
      await k.expectState(page.locator(`${tid('list-error')} ${tid('try-again')}`), 'bob (proxy): the feed error offers "Try again"');
      const alerts = await page.evaluate(() => [...document.querySelectorAll('[role="alert"]')]
        .filter((e) => e.offsetParent !== null && e.textContent.trim()).map((e) => e.textContent.trim()));
      if (alerts.length !== 1) k.fail(`bob (proxy): the failed feed shows ${alerts.length} errors: ${JSON.stringify(alerts)}`);
      const loadMore = await page.getByRole('button', { name: 'Load more' }).filter({ visible: true }).count();
      if (loadMore) k.fail('bob (proxy): the failed feed offers "Load more"');
      await k.sizes(page, 'connection-offline-feed');

      const left = OUTAGE_MS - (Date.now() - down);
      if (left > 0) await sleep(left);
      await k.proxy.start();
      const back = Date.now();
      await k.until(async () => (await page.locator(openSel).count()) > 0,
        `bob (proxy): connected again within ${BACK_WITHIN_MS / 1000} s of the server coming back, without a click`, BACK_WITHIN_MS);
      k.log(`  connected again ${Date.now() - back} ms after the server came back`);
      await k.expectState(page.locator(tid('post')).first(), 'bob (proxy): the feed shows its posts by itself', { timeout: 10_000 });
      if (await visibleCount(page, tid('list-error'))) k.fail('bob (proxy): the feed error is still shown after the reconnect');
      await k.expectState(banner(page), 'bob (proxy): the banner goes away', { state: 'hidden' });
    });

    await k.step('"Retry now" reconnects at once', async () => {
      const page = viaProxy;
      await k.proxy.stop();
      await k.expectState(banner(page), 'bob (proxy): the offline banner shows again', { timeout: 5_000 });
      // Let the wait grow to its cap.
      await sleep(4_000);
      await k.proxy.start();
      const pressed = Date.now();
      await page.locator(tid('retry-now')).click();
      await k.until(async () => (await page.locator(openSel).count()) > 0,
        `bob (proxy): connected within ${RETRY_WITHIN_MS} ms of "Retry now"`, RETRY_WITHIN_MS);
      k.log(`  connected ${Date.now() - pressed} ms after "Retry now"`);
      await k.expectState(banner(page), 'bob (proxy): the banner goes away', { state: 'hidden' });
    });

    await k.step('what was said while bob was away comes back with one resume', async () => {
      const page = viaProxy;
      await page.evaluate((id) => {
        location.hash = `#/chat/${encodeURIComponent(id)}`;
      }, convId);
      await k.expectState(page.locator(tid('message-input')), 'bob (proxy): the chat with alice');
      const sent = [];
      page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(String(f.payload))));
      await k.proxy.stop();
      await k.expectState(banner(page), 'bob (proxy): offline', { timeout: 5_000 });
      const a = alice.page;
      await a.goto(`${k.base}/#/chat/${encodeURIComponent(convId)}`, { waitUntil: 'domcontentloaded' });
      const text = `said while you were away ${Date.now().toString(36)}`;
      await a.locator(tid('message-input')).fill(text);
      await a.locator(tid('message-send')).click();
      await k.expectState(a.locator(tid('messages')).getByText(text), 'alice: her message in the thread');
      await k.proxy.start();
      await page.locator(tid('retry-now')).click();
      await k.expectState(page.locator(tid('messages')).getByText(text), 'bob (proxy): alice’s message, without a reload',
        { timeout: 15_000 });
      const frames = sent.map((t) => { try { return JSON.parse(t); } catch { return {}; } });
      if (!frames.some((f) => f.type === 'resume')) k.fail('bob (proxy): the new connection sent no resume');
      if (frames.some((f) => f.type === 'sync')) k.fail('bob (proxy): the new connection synced conversation by conversation');
    });
  });

  await k.step('signing in from a chat link lands on that chat', async () => {
    const fresh = await k.newUser(`${bob.who}-chat-link`);
    try {
      const { page } = fresh;
      await page.goto(`${k.base}/#/chat/${encodeURIComponent(convId)}`, { waitUntil: 'domcontentloaded' });
      await k.expectState(page.locator(tid('login-username')), 'signed out: a chat link asks to sign in');
      await page.locator(tid('login-username')).fill(bob.name);
      await page.locator(tid('login-password')).fill(bob.password);
      await page.locator(tid('login-submit')).click();
      await k.until(async () => (await page.evaluate(() => location.hash)) === `#/chat/${encodeURIComponent(convId)}`,
        `after signing in, bob is on #/chat/${convId} (is on ${await page.evaluate(() => location.hash)})`);
      await k.expectState(page.locator(`${tid('conversation')}[aria-current="page"]`), 'the chat from the link is open');
    } finally {
      await fresh.context.close();
    }
  });

  await k.step('an unknown address shows the not-found page', async () => {
    const { page } = bob;
    await page.goto(`${k.base}/#/no/such/page`, { waitUntil: 'domcontentloaded' });
    await k.expectState(page.locator(tid('not-found')), 'bob: the not-found page');
    await k.expectState(page.locator(`${tid('not-found-home')}[href="#/feed"]`), 'bob: the not-found page links to the feed');
    if ((await page.evaluate(() => location.hash)) !== '#/no/such/page') k.fail('bob: the unknown address was replaced');
    await k.checkPage(page, 'connection-not-found');
    const fresh = await k.newUser(`${bob.who}-signed-out`);
    try {
      await fresh.page.goto(`${k.base}/#/no-such-page`, { waitUntil: 'domcontentloaded' });
      await k.expectState(fresh.page.locator(tid('not-found')), 'signed out: the not-found page');
      await k.expectState(fresh.page.locator(`${tid('not-found-home')}[href="#/login"]`), 'signed out: the not-found page links to sign in');
      await k.checkPage(fresh.page, 'connection-not-found-signed-out');
    } finally {
      await fresh.context.close();
    }
  });

  await k.step('every page fits from 320 px up', async () => {
    const { page } = alice;
    const routes = [
      ['feed', tid('post-list')],
      ['friends', tid('friend-list')],
      ['chat', tid('conversation-list')],
      [`chat/${encodeURIComponent(convId)}`, tid('conversation-list')],
      ['notifications', tid('notification-list')],
      [`u/${encodeURIComponent(alice.name)}`, tid('profile-name')],
      [`u/${encodeURIComponent(bob.name)}`, tid('profile-name')],
      [`post/${encodeURIComponent(postId)}`, tid('post')],
      ['settings', 'main h1'],
    ];
    for (const [route, ready] of routes) {
      await page.goto(`${k.base}/#/${route}`, { waitUntil: 'domcontentloaded' });
      await k.expectState(page.locator(ready).first(), `alice: #/${route} shows`);
      await k.checkPage(page, `connection-fit-${route.split('/')[0]}`);
    }
    await viaProxy.close();
  });
}
