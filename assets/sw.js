// The service worker (served at /sw.js, scope /): keeps the app's shell
// loadable offline and shows push notifications.
//
// The server replaces the placeholder below with a hash of every embedded
// asset, so each release changes this file's bytes: the browser installs
// the new worker, which drops the previous release's cache.
//
// Caching is network-first throughout: online, the page always gets what
// the server has now (index.html and modules are no-cache, versioned files
// come from the HTTP cache), and the copy kept here is only what an offline
// reload falls back to. The API, the realtime socket and uploaded media are
// never touched: they are live or private, and a stale copy would mislead.

const VERSION = '__ASSETS_VERSION__';
const CACHE = `kith-${VERSION}`;

/** What an offline start needs even before the first full online visit. */
const PRECACHE = [
  '/',
  '/offline.html',
  '/offline.css',
  '/manifest.webmanifest',
  '/favicon.svg',
  '/icons/icon-192.png',
  '/icons/icon-512.png',
  '/icons/maskable-512.png',
  '/icons/badge-96.png',
];

const ICON = '/icons/icon-192.png';
const BADGE = '/icons/badge-96.png';

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // `reload`: the copies come from the server, not from the HTTP cache.
    await cache.addAll(PRECACHE.map((url) => new Request(url, { cache: 'reload' })));
    // A new release should not wait for every old tab to close: its pages
    // keep the modules they already loaded, and the next load is the new one.
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

/** Requests left to the browser as if there were no worker. */
function bypass(request, url) {
  if (request.method !== 'GET') return true;
  if (url.origin !== self.location.origin) return true;
  const p = url.pathname;
  if (p === '/api' || p.startsWith('/api/')) return true;
  if (p === '/ws' || p.startsWith('/ws/') || p === '/metrics') return true;
  // Uploads: large, fetched in ranges (a partial response cannot be
  // cached) and visible only to the signed-in user.
  if (p.startsWith('/media/')) return true;
  if (request.headers.has('range')) return true;
  return false;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (bypass(request, url)) return;
  if (request.mode === 'navigate') {
    event.respondWith(navigation(request, url));
  } else {
    event.respondWith(networkFirst(request));
  }
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const res = await fetch(request);
    if (res.ok && res.type === 'basic') await cache.put(request, res.clone());
    return res;
  } catch (e) {
    const hit = await cache.match(request);
    if (hit) return hit;
    throw e;
  }
}

async function navigation(request, url) {
  const cache = await caches.open(CACHE);
  try {
    const res = await fetch(request);
    // The app's routes live in the hash, so "/" is the shell; keep the
    // newest one for an offline start. A redirected response cannot answer
    // a navigation later, so it is not kept.
    if (url.pathname === '/' && res.ok && !res.redirected) await cache.put('/', res.clone());
    return res;
  } catch {
    return (await cache.match(request, { ignoreSearch: true })) ||
      (await cache.match('/')) ||
      (await cache.match('/offline.html')) ||
      new Response('kith is offline.', { status: 503, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  }
}

// ---- push ------------------------------------------------------------------

/** A same-origin address to open for a notification, else the app's start. */
function safeUrl(raw) {
  try {
    const u = new URL(typeof raw === 'string' && raw ? raw : '/', self.location.origin);
    return u.origin === self.location.origin ? u.href : new URL('/', self.location.origin).href;
  } catch {
    return new URL('/', self.location.origin).href;
  }
}

self.addEventListener('push', (event) => {
  let msg = null;
  try {
    msg = event.data ? event.data.json() : null;
  } catch {
    msg = null;
  }
  // Chrome counts a push that shows nothing against the site, so anything
  // unreadable still shows a plain notification.
  const valid = msg && typeof msg === 'object';
  const title = (valid && typeof msg.title === 'string' && msg.title) || 'kith';
  const options = {
    body: valid && typeof msg.body === 'string' ? msg.body : valid ? '' : 'You have something new.',
    icon: ICON,
    badge: BADGE,
    data: { url: safeUrl(valid ? msg.url : '/'), id: valid ? msg.id ?? null : null, kind: valid ? msg.kind ?? null : null },
  };
  // A tag replaces the earlier notification about the same thing (one per
  // chat, say) rather than stacking them.
  if (valid && typeof msg.tag === 'string' && msg.tag) {
    options.tag = msg.tag;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = safeUrl(event.notification.data?.url);
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const ours = windows.filter((c) => new URL(c.url).origin === self.location.origin);
    // The window the person was last looking at, else any kith window.
    const target = ours.find((c) => c.focused) || ours.find((c) => c.visibilityState === 'visible') || ours[0];
    if (!target) {
      await self.clients.openWindow(url);
      return;
    }
    // Focus first: the click's permission to raise a window is short-lived.
    const focused = await target.focus().catch(() => target);
    try {
      await focused.navigate(url);
    } catch {
      // navigate() works only on windows this worker controls; the page's
      // own listener (pwa.js) follows the address instead.
      focused.postMessage({ type: 'kith:navigate', url });
    }
  })());
});

// The push service replaced the subscription (it expired or its keys
// rotated): subscribe again with the same server key and tell the server.
self.addEventListener('pushsubscriptionchange', (event) => {
  event.waitUntil((async () => {
    const old = event.oldSubscription;
    const key = old?.options?.applicationServerKey;
    const sub = event.newSubscription ||
      (key ? await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }) : null);
    const send = (method, body) => fetch('/api/push/subscriptions', {
      method,
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
    if (sub) await send('POST', sub.toJSON());
    if (old && (!sub || old.endpoint !== sub.endpoint)) await send('DELETE', { endpoint: old.endpoint });
  })());
});
