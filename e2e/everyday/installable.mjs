// Everyday e2e: kith as an installable app, and push notifications.
//
// dana (a fresh account in her own browser) opens kith: the manifest is
// JSON whose icons load and Chromium finds the app installable; the
// service worker (sw.js) becomes active and controls the page. With the
// browser offline, a reload still shows the app's shell, and an address
// never visited (without a kept shell) shows the offline page. A push
// delivered through the DevTools protocol shows a notification with the
// payload's title and tag (an unreadable payload shows a plain "kith"
// one). A notification's click cannot be produced here (no protocol
// command clicks one, and a scripted NotificationEvent is untrusted, so
// its waitUntil throws): the step checks what the click handler relies on
// instead: the notification keeps the address, the worker controls the
// window and can navigate it to that address, and the page follows the
// worker's navigate message. The Settings › Notifications section is
// screenshot at 1280 and 390 px and checked with axe.

export const title = 'installable app, offline shell, push notifications';

/** What Chromium logs while the browser is offline or a not-yet-served endpoint answers 404. */
const OFFLINE_ERRORS = /ERR_INTERNET_DISCONNECTED|Failed to load resource|Failed to fetch|WebSocket|network error|FetchEvent/;
const MISSING_API = /status of 404/;

export async function run(k) {
  const tid = k.tid;
  const dana = await k.newUser('dana', { signup: true });
  const { page, context } = dana;
  const origin = k.base;

  try {
    await k.step('the manifest is JSON and its icons load', async () => {
      await page.goto(`${origin}/#/feed`, { waitUntil: 'load' });
      const href = await page.locator('link[rel="manifest"]').getAttribute('href');
      if (!href?.startsWith('/manifest.webmanifest')) k.fail(`index.html links the manifest as ${JSON.stringify(href)}`);
      const m = await page.evaluate(async () => {
        const res = await fetch('/manifest.webmanifest');
        const type = res.headers.get('content-type') || '';
        const json = JSON.parse(await res.text());
        const icons = [];
        for (const icon of json.icons || []) {
          const r = await fetch(icon.src);
          const blob = await r.blob();
          let size = null;
          try {
            const bmp = await createImageBitmap(blob);
            size = `${bmp.width}x${bmp.height}`;
          } catch {
            size = null;
          }
          icons.push({ ...icon, status: r.status, type: r.headers.get('content-type'), bytes: blob.size, decoded: size });
        }
        return { status: res.status, type, json, icons };
      });
      if (m.status !== 200) k.fail(`/manifest.webmanifest answered ${m.status}`);
      if (!/json/.test(m.type)) k.fail(`/manifest.webmanifest is served as ${JSON.stringify(m.type)}, not JSON`);
      const j = m.json;
      for (const [field, want] of [['name', 'kith'], ['short_name', 'kith'], ['start_url', '/'], ['scope', '/'], ['display', 'standalone']]) {
        if (j[field] !== want) k.fail(`the manifest's ${field} is ${JSON.stringify(j[field])}, expected ${JSON.stringify(want)}`);
      }
      if (!j.theme_color || !j.background_color) k.fail('the manifest has no theme_color or background_color');
      for (const icon of m.icons) {
        if (icon.status !== 200 || icon.type !== 'image/png') k.fail(`icon ${icon.src}: ${icon.status} ${icon.type}`);
        if (icon.decoded !== icon.sizes) k.fail(`icon ${icon.src} decodes as ${icon.decoded}, the manifest says ${icon.sizes}`);
        if (icon.bytes > 30_000) k.fail(`icon ${icon.src} is ${icon.bytes} bytes (over 30 KB)`);
      }
      const sizes = m.icons.map((i) => `${i.sizes} ${i.purpose || 'any'}`);
      for (const want of ['192x192 any', '512x512 any', '512x512 maskable']) {
        if (!sizes.includes(want)) k.fail(`the manifest has no ${want} icon (has ${JSON.stringify(sizes)})`);
      }
      k.log(`  icons: ${m.icons.map((i) => `${i.src} ${i.decoded} ${i.bytes} B`).join(', ')}`);
      const touch = await page.locator('link[rel="apple-touch-icon"]').getAttribute('href');
      const touchStatus = await page.evaluate(async (u) => (await fetch(u)).status, touch);
      if (touchStatus !== 200) k.fail(`the apple-touch-icon ${touch} answered ${touchStatus}`);
    });

    await k.step('the service worker becomes active and controls the page; Chromium finds the app installable', async () => {
      const reg = await page.evaluate(async () => {
        const r = await navigator.serviceWorker.ready;
        return { scope: r.scope, active: r.active?.state, script: r.active?.scriptURL };
      });
      if (reg.scope !== `${origin}/`) k.fail(`the worker's scope is ${reg.scope}, expected ${origin}/`);
      if (!reg.script?.endsWith('/sw.js')) k.fail(`the active worker is ${reg.script}`);
      await k.until(() => page.evaluate(() => navigator.serviceWorker.controller?.state === 'activated'),
        'dana: navigator.serviceWorker.controller is the activated worker');
      // A reload is controlled from its start (and fills the cache as it goes).
      await page.reload({ waitUntil: 'load' });
      await k.expectState(page.locator(tid('logout')).first(), 'dana: the app after a reload');
      const c = await page.evaluate(async () => ({
        controller: navigator.serviceWorker.controller?.scriptURL,
        caches: await caches.keys(),
      }));
      if (!c.controller?.endsWith('/sw.js')) k.fail(`after a reload the page is controlled by ${c.controller}`);
      if (!c.caches.some((n) => n.startsWith('kith-'))) k.fail(`no kith-… cache (caches: ${JSON.stringify(c.caches)})`);
      k.log(`  controlled by ${c.controller}; caches ${JSON.stringify(c.caches)}`);
      // Chromium's own verdict, as its install prompt would see it.
      const cdp = await context.newCDPSession(page);
      try {
        const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
        // Playwright's contexts are off-the-record, which alone rules out installing.
        const errs = installabilityErrors.filter((e) => e.errorId !== 'in-incognito');
        if (errs.length) k.fail(`Chromium finds the app not installable: ${JSON.stringify(errs)}`);
        const { errors: manifestErrors } = await cdp.send('Page.getAppManifest');
        if (manifestErrors?.length) k.fail(`Chromium's manifest parser: ${JSON.stringify(manifestErrors)}`);
      } finally {
        await cdp.detach();
      }
    });

    await k.expectErrors(OFFLINE_ERRORS, async () => {
      await k.step('offline: a reload shows the app shell; a never-visited address without a kept shell, the offline page', async () => {
        await context.setOffline(true);
        try {
          await page.reload({ waitUntil: 'load' });
          // The shell: index.html with its modules, running (the boot
          // spinner gives way to what app.js draws).
          await k.until(() => page.evaluate(() => document.title.includes('kith') && !!document.querySelector('#app') && !document.querySelector('#app > .boot')),
            'dana (offline): the app shell loads and its script runs');
          const shown = await page.locator('#app').innerText();
          k.log(`  offline shell shows: ${JSON.stringify(shown.replace(/\s+/g, ' ').slice(0, 160))}`);
          await k.shot(page, 'installable-offline-shell');
          // The offline page is the last fallback: only when no shell is kept.
          await page.evaluate(async () => {
            for (const name of await caches.keys()) await (await caches.open(name)).delete('/');
          });
          await page.goto(`${origin}/never/visited`, { waitUntil: 'load' });
          await k.expectState(page.locator(tid('offline-page')), 'dana (offline): the offline page for an address never visited');
          await k.checkPage(page, 'installable-offline-page');
          await k.sizes(page, 'installable-offline-page');
        } finally {
          await context.setOffline(false);
        }
        // Online again: the shell is kept again.
        await page.goto(`${origin}/#/feed`, { waitUntil: 'load' });
        await k.expectState(page.locator(tid('logout')).first(), 'dana: the app online again');
        await k.until(() => page.evaluate(async () => !!(await caches.match('/'))), 'dana: the shell is kept again after an online visit');
      });
    });

    let notified;
    await k.step('a push through the DevTools protocol shows a notification with its title and tag', async () => {
      await context.grantPermissions(['notifications'], { origin });
      const cdp = await context.newCDPSession(page);
      const registrations = [];
      cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => registrations.push(...e.registrations));
      await cdp.send('ServiceWorker.enable');
      await k.until(async () => registrations.some((r) => r.scopeURL === `${origin}/` && !r.isDeleted), 'the protocol reports the worker\'s registration');
      const { registrationId } = registrations.find((r) => r.scopeURL === `${origin}/` && !r.isDeleted);
      const payload = { id: 'n-e2e-1', kind: 'friend_request', title: 'Alice wants to be your friend', body: 'Accept or decline under Friends.', url: '/#/friends', tag: 'friend-request-alice' };
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: JSON.stringify(payload) });
      await k.until(async () => {
        const list = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, tag: n.tag, body: n.body, data: n.data, icon: n.icon, badge: n.badge })));
        notified = list.find((n) => n.tag === payload.tag);
        return !!notified;
      }, 'dana: registration.getNotifications() lists the pushed notification');
      if (notified.title !== payload.title) k.fail(`the notification's title is ${JSON.stringify(notified.title)}`);
      if (notified.body !== payload.body) k.fail(`the notification's body is ${JSON.stringify(notified.body)}`);
      if (notified.data?.url !== `${origin}/#/friends`) k.fail(`the notification's data.url is ${JSON.stringify(notified.data?.url)}`);
      if (!notified.icon.endsWith('/icons/icon-192.png')) k.fail(`the notification's icon is ${notified.icon}`);
      k.log(`  notification: ${JSON.stringify(notified)}`);
      // Not JSON: a plain notification still shows (the push is never silent).
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: 'not json' });
      await k.until(async () => page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications())
        .some((n) => n.title === 'kith' && !n.tag)), 'dana: an unreadable push shows a plain "kith" notification');
      await cdp.detach();
    });

    await k.step('what a notification click relies on: the window is controlled, navigable to data.url, and follows the worker', async () => {
      const [worker] = context.serviceWorkers().filter((w) => w.url().endsWith('/sw.js'));
      if (!worker) k.fail('playwright sees no service worker for the context');
      await page.evaluate(() => {
        location.hash = '#/feed';
      });
      // WindowClient.navigate(), as the click handler calls it, moves the window to the notification's route.
      const nav = await worker.evaluate(async (url) => {
        const list = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
        const ours = list.filter((c) => new URL(c.url).origin === self.location.origin);
        if (!ours.length) return { error: 'no window' };
        const c = await ours[0].navigate(url);
        return { windows: ours.length, url: c?.url ?? null };
      }, notified.data.url);
      if (nav.error) k.fail(`the worker found ${nav.error}`);
      await k.until(async () => (await page.evaluate(() => location.hash)) === '#/friends', 'dana: the window is on #/friends after WindowClient.navigate()');
      await k.expectState(page.getByRole('heading', { level: 1, name: 'Friends' }), 'dana: the friends page shows');
      // The fallback for a window the worker does not control: the page follows a message.
      await page.evaluate(() => {
        location.hash = '#/feed';
      });
      await worker.evaluate(async (url) => {
        for (const c of await self.clients.matchAll({ type: 'window' })) c.postMessage({ type: 'kith:navigate', url });
      }, `${origin}/#/notifications`);
      await k.until(async () => (await page.evaluate(() => location.hash)) === '#/notifications', 'dana: the page follows the worker\'s navigate message');
      k.log('  not verified: a real click on the notification (no protocol command clicks one; a scripted NotificationEvent is untrusted)');
    });

    await k.expectErrors(MISSING_API, async () => {
      await k.step('Settings › Notifications at 1280 and 390 px', async () => {
        await page.goto(`${origin}/#/settings/notifications`, { waitUntil: 'load' });
        await k.expectState(page.locator(tid('settings-section-notifications')), 'dana: the Notifications section');
        await k.expectState(page.locator(`${tid('push-state')}:not([aria-busy])`), 'dana: the push control settles');
        await k.expectState(page.locator(`${tid('notification-prefs')}:not([aria-busy])`), 'dana: the preferences grid settles');
        const state = await page.locator(tid('push-state')).getAttribute('data-state');
        const unavailable = await page.locator(tid('prefs-unavailable')).count();
        k.log(`  push state ${state}; preferences ${unavailable ? 'not offered by this server (grid disabled)' : 'loaded'}`);
        const boxes = await page.locator(`${tid('notification-prefs')} input[type="checkbox"]`).count();
        if (boxes !== 15) k.fail(`the grid has ${boxes} checkboxes, expected 5 kinds × 3 channels`);
        await k.checkPage(page, 'installable-settings-notifications');
        await k.sizes(page, 'settings-notifications');
      });
    });
  } finally {
    await context.close();
  }
}
