// The service worker (assets/sw.js): its own source, with the release mark
// replaced as the server does, evaluated in a simulated
// ServiceWorkerGlobalScope. The tests dispatch events to the listeners it
// registers and look at what it asked of the simulated APIs (CacheStorage,
// Clients, WindowClient, the registration's notifications and push
// manager), which follow the Service Workers and Notifications
// specifications where sw.js relies on them: waitUntil only while the
// event is dispatched or extended, respondWith only during dispatch,
// matchAll only returning same-origin clients, navigate rejecting for a
// window the worker does not control, focus and openWindow allowed only
// while a notification click is handled, and notification data and
// messages structured-cloned.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import vm from 'node:vm';

const SOURCE = readFileSync(new URL('../assets/sw.js', import.meta.url), 'utf8');
const MARK = '__ASSETS_VERSION__';
/** A release hash, 16 hex digits like the server's. */
const RELEASE = '0123456789abcdef';
const ORIGIN = 'https://kith.example';
const ELSEWHERE = 'https://elsewhere.example';

/** ExtendableEvent: `waitUntil` while dispatched or while earlier promises are pending. */
class ExtendableEvent {
  constructor(type, init = {}) {
    Object.assign(this, init);
    this.type = type;
    this.dispatching = false;
    this.pending = 0;
    this.extensions = [];
  }

  waitUntil(promise) {
    if (!this.dispatching && this.pending === 0) {
      throw new DOMException('waitUntil called after the event was handled', 'InvalidStateError');
    }
    this.pending++;
    const p = Promise.resolve(promise).finally(() => {
      this.pending--;
    });
    this.extensions.push(p);
  }
}

/** FetchEvent: `respondWith` once, during dispatch. */
class FetchEvent extends ExtendableEvent {
  constructor(request) {
    super('fetch', { request });
    this.response = null;
  }

  respondWith(response) {
    if (!this.dispatching || this.response) throw new DOMException('respondWith not allowed now', 'InvalidStateError');
    this.response = Promise.resolve(response);
  }
}

/** Request as the worker's global has it: relative URLs resolve against the worker's location. */
class Request {
  constructor(input, init = {}) {
    this.url = new URL(typeof input === 'string' ? input : input.url, `${ORIGIN}/sw.js`).href;
    this.method = init.method || 'GET';
    this.mode = init.mode || 'cors';
    this.cache = init.cache || 'default';
    this.headers = new Headers(init.headers);
  }
}

/** What the page's fetch would dispatch (a constructed Request cannot have mode 'navigate'). */
function incoming(path, { method = 'GET', mode = 'cors', headers = {} } = {}) {
  const r = new Request(new URL(path, ORIGIN).href, { method, headers });
  r.mode = mode;
  return r;
}

/** A Cache keyed by absolute URL. */
class Cache {
  constructor(worker) {
    this.worker = worker;
    this.entries = new Map();
  }

  static key(req) {
    return new URL(typeof req === 'string' ? req : req.url, `${ORIGIN}/sw.js`).href;
  }

  async addAll(requests) {
    for (const req of requests) {
      this.worker.precached.push({ url: req.url, cache: req.cache });
      const res = await this.worker.network(req);
      this.entries.set(Cache.key(req), res);
    }
  }

  async put(req, res) {
    this.entries.set(Cache.key(req), res);
  }

  async match(req, { ignoreSearch = false } = {}) {
    const want = new URL(Cache.key(req));
    for (const [key, res] of this.entries) {
      const have = new URL(key);
      if (ignoreSearch) {
        have.search = '';
        want.search = '';
      }
      have.hash = '';
      want.hash = '';
      if (have.href === want.href) return res.clone();
    }
    return undefined;
  }
}

/** A browser window of some origin, controlled by this worker or not. */
class WindowClient {
  constructor(worker, { url, focused = false, visibilityState = 'visible', controlled = true }) {
    this.worker = worker;
    this.type = 'window';
    this.id = `w${worker.windows.length + 1}`;
    this.currentUrl = new URL(url).href;
    this.focused = focused;
    this.visibilityState = visibilityState;
    this.controlled = controlled;
    this.messages = [];
  }

  get url() {
    return this.currentUrl;
  }

  focus() {
    if (!this.worker.interaction) return Promise.reject(new DOMException('Not allowed to focus a window.', 'InvalidAccessError'));
    for (const w of this.worker.windows) w.focused = false;
    this.focused = true;
    this.worker.log.push(['focus', this.id]);
    return Promise.resolve(this);
  }

  navigate(url) {
    let target;
    try {
      target = new URL(url, this.worker.location.href);
    } catch {
      return Promise.reject(new TypeError(`invalid URL ${url}`));
    }
    if (target.href === 'about:blank') return Promise.reject(new TypeError('about:blank'));
    if (!this.controlled) return Promise.reject(new TypeError('This service worker is not the client\'s active service worker.'));
    this.currentUrl = target.href;
    this.worker.log.push(['navigate', this.id, target.href]);
    return Promise.resolve(target.origin === ORIGIN ? this : null);
  }

  postMessage(message) {
    this.messages.push(structuredClone(message));
    this.worker.log.push(['postMessage', this.id]);
  }
}

/** A PushSubscription at `endpoint`, made with `key`. */
function subscription(endpoint, key = null) {
  return {
    endpoint,
    options: { userVisibleOnly: true, applicationServerKey: key },
    toJSON: () => ({ endpoint, expirationTime: null, keys: { p256dh: 'p', auth: 'a' } }),
  };
}

/**
 * sw.js evaluated in a fresh scope. `windows` are the browser's windows
 * (any origin), `caches` the names already in CacheStorage, `network(req)`
 * what fetch answers (it may throw, as offline).
 */
function loadWorker({ windows = [], caches = [], network } = {}) {
  const listeners = new Map();
  const storage = new Map();
  const worker = {
    location: new URL('/sw.js', ORIGIN),
    listeners,
    storage,
    windows: [],
    /** Calls to focus, navigate, postMessage and openWindow, in order. */
    log: [],
    opened: [],
    shown: [],
    deleted: [],
    precached: [],
    fetched: [],
    /** Requests the worker made itself: { url, method, body (parsed JSON) }. */
    sent: [],
    /** Calls to pushManager.subscribe. */
    subscribed: [],
    claimed: false,
    skippedWaiting: false,
    /** Whether the worker may focus or open windows (a notification click is being handled). */
    interaction: false,
    network: async (req) => {
      worker.fetched.push(req.url);
      if (network) return network(req);
      return new Response('ok', { status: 200 });
    },
  };
  for (const w of windows) worker.windows.push(new WindowClient(worker, w));
  for (const name of caches) storage.set(name, new Cache(worker));

  const scope = {
    URL,
    Headers,
    Response,
    Request,
    DOMException,
    console,
    location: worker.location,
    addEventListener(type, fn) {
      if (!listeners.has(type)) listeners.set(type, []);
      listeners.get(type).push(fn);
    },
    skipWaiting: async () => {
      worker.skippedWaiting = true;
    },
    fetch: (req, init = {}) => {
      const request = typeof req === 'string' ? new Request(req, init) : req;
      worker.sent.push({ url: request.url, method: request.method, body: init.body === undefined ? null : JSON.parse(init.body) });
      return worker.network(request);
    },
    caches: {
      keys: async () => [...storage.keys()],
      delete: async (name) => {
        worker.deleted.push(name);
        return storage.delete(name);
      },
      open: async (name) => {
        if (!storage.has(name)) storage.set(name, new Cache(worker));
        return storage.get(name);
      },
      has: async (name) => storage.has(name),
    },
    clients: {
      matchAll: async ({ type = 'window', includeUncontrolled = false } = {}) =>
        worker.windows.filter(
          (w) =>
            new URL(w.url).origin === ORIGIN &&
            (type === 'window' || type === 'all') &&
            (includeUncontrolled || w.controlled),
        ),
      openWindow: async (url) => {
        const target = new URL(url, worker.location.href);
        if (target.href === 'about:blank') throw new TypeError('about:blank');
        if (!worker.interaction) throw new DOMException('Not allowed to open a window.', 'InvalidAccessError');
        worker.opened.push(target.href);
        worker.log.push(['openWindow', target.href]);
        if (target.origin !== ORIGIN) return null;
        const w = new WindowClient(worker, { url: target.href, focused: true, controlled: true });
        worker.windows.push(w);
        return w;
      },
      claim: async () => {
        worker.claimed = true;
        for (const w of worker.windows) if (new URL(w.url).origin === ORIGIN) w.controlled = true;
      },
    },
    registration: {
      scope: `${ORIGIN}/`,
      showNotification: async (title, options = {}) => {
        if (options.renotify && !options.tag) throw new TypeError('renotify needs a tag');
        worker.shown.push({ title: String(title), options: structuredClone(options) });
      },
      pushManager: {
        subscribe: async (options) => {
          worker.subscribed.push(options);
          return subscription('https://push.example/new-renewed');
        },
      },
    },
  };
  scope.self = scope;
  const context = vm.createContext(scope);
  assert.equal(SOURCE.split(MARK).length, 2, 'sw.js carries the release mark once');
  vm.runInContext(SOURCE.replaceAll(MARK, RELEASE), context, { filename: 'assets/sw.js' });

  /** Dispatches `event` to the worker's listeners, as the browser does. */
  worker.dispatch = (event) => {
    const fns = listeners.get(event.type) || [];
    assert.ok(fns.length > 0, `sw.js listens for ${event.type}`);
    event.dispatching = true;
    try {
      for (const fn of fns) fn.call(scope, event);
    } finally {
      event.dispatching = false;
    }
    return event;
  };

  /** Dispatches an extendable event and waits for everything it extended itself with. */
  worker.handle = async (event) => {
    worker.dispatch(event);
    for (let seen = 0; seen < event.extensions.length; seen = event.extensions.length) {
      await Promise.all(event.extensions);
    }
    return event;
  };

  /** A click on a notification carrying `data`; window interaction is allowed while it is handled. */
  worker.click = async (data) => {
    const notification = {
      title: 'kith',
      data: structuredClone(data),
      closed: false,
      close() {
        this.closed = true;
      },
    };
    const event = new ExtendableEvent('notificationclick', { notification, action: '' });
    worker.interaction = true;
    try {
      await worker.handle(event);
    } finally {
      worker.interaction = false;
    }
    return notification;
  };

  /** A push whose payload is `body` (a string), or no payload. */
  worker.push = async (body) => {
    const data =
      body === undefined
        ? null
        : {
            text: () => body,
            json: () => JSON.parse(body),
            arrayBuffer: () => new TextEncoder().encode(body).buffer,
          };
    await worker.handle(new ExtendableEvent('push', { data }));
    return worker.shown.at(-1);
  };

  return worker;
}

describe('notification clicks', () => {
  test('an open kith window is focused and navigated to data.url; the notification closes', async () => {
    const w = loadWorker({ windows: [{ url: `${ORIGIN}/#/feed`, visibilityState: 'hidden' }] });
    // The notification as the push handler made it.
    const shown = await w.push(JSON.stringify({ id: 'n1', kind: 'message', title: 'bob', body: 'hi', url: '/#/chat/abc', tag: 'chat:abc' }));
    const n = await w.click(shown.options.data);
    assert.equal(n.closed, true);
    assert.deepEqual(w.log, [
      ['focus', 'w1'],
      ['navigate', 'w1', `${ORIGIN}/#/chat/abc`],
    ]);
    assert.equal(w.windows[0].url, `${ORIGIN}/#/chat/abc`);
    assert.equal(w.windows[0].focused, true);
    assert.deepEqual(w.opened, []);
  });

  test('of several kith windows, the focused one is used, else a visible one', async () => {
    const windows = [
      { url: `${ORIGIN}/#/feed`, visibilityState: 'hidden' },
      { url: `${ORIGIN}/#/friends`, visibilityState: 'visible' },
      { url: `${ORIGIN}/#/settings`, visibilityState: 'visible', focused: true },
    ];
    let w = loadWorker({ windows });
    await w.click({ url: `${ORIGIN}/#/post/p1` });
    assert.deepEqual(w.log, [
      ['focus', 'w3'],
      ['navigate', 'w3', `${ORIGIN}/#/post/p1`],
    ]);

    w = loadWorker({ windows: windows.map((x) => ({ ...x, focused: false })) });
    await w.click({ url: `${ORIGIN}/#/post/p1` });
    assert.deepEqual(w.log, [
      ['focus', 'w2'],
      ['navigate', 'w2', `${ORIGIN}/#/post/p1`],
    ]);
  });

  test('with no kith window open, the absolute address opens in a new window', async () => {
    // A window of another site is not a kith window.
    const w = loadWorker({ windows: [{ url: `${ELSEWHERE}/page`, focused: true }] });
    const n = await w.click({ url: '/#/chat/abc' });
    assert.equal(n.closed, true);
    assert.deepEqual(w.opened, [`${ORIGIN}/#/chat/abc`]);
    assert.deepEqual(w.log, [['openWindow', `${ORIGIN}/#/chat/abc`]]);
    assert.equal(w.windows[0].url, `${ELSEWHERE}/page`, 'the other site is left alone');
  });

  test('a data.url on another origin is not followed: the app\'s start page is used instead', async () => {
    const foreign = [`${ELSEWHERE}/#/chat/abc`, '//elsewhere.example/x', 'javascript:alert(1)', 'data:text/html,hi'];
    for (const url of foreign) {
      const none = loadWorker();
      await none.click({ url });
      assert.deepEqual(none.opened, [`${ORIGIN}/`], `no window, data.url ${url}`);

      const open = loadWorker({ windows: [{ url: `${ORIGIN}/#/feed` }] });
      await open.click({ url });
      assert.deepEqual(open.log, [
        ['focus', 'w1'],
        ['navigate', 'w1', `${ORIGIN}/`],
      ], `an open window, data.url ${url}`);
      assert.deepEqual(open.opened, []);
    }
    // Missing or malformed data: the start page too.
    for (const data of [null, {}, { url: 42 }, { url: '' }]) {
      const w = loadWorker();
      const n = await w.click(data);
      assert.equal(n.closed, true);
      assert.deepEqual(w.opened, [`${ORIGIN}/`], `data ${JSON.stringify(data)}`);
    }
  });

  test('a kith window the worker does not control is focused and asked by message to follow the address', async () => {
    const w = loadWorker({ windows: [{ url: `${ORIGIN}/#/feed`, controlled: false }] });
    await w.click({ url: `${ORIGIN}/#/chat/abc` });
    assert.deepEqual(w.log, [
      ['focus', 'w1'],
      ['postMessage', 'w1'],
    ]);
    assert.deepEqual(w.windows[0].messages, [{ type: 'kith:navigate', url: `${ORIGIN}/#/chat/abc` }]);
    assert.equal(w.windows[0].url, `${ORIGIN}/#/feed`, 'navigate() did not move it');
    assert.deepEqual(w.opened, []);
  });
});

describe('push', () => {
  test('a JSON payload shows its title, body and tag, keeping the address and ids in data', async () => {
    const w = loadWorker();
    const shown = await w.push(
      JSON.stringify({ id: 'n1', kind: 'message', title: 'bob', body: 'see you at 8', url: '/#/chat/abc', tag: 'chat:abc' }),
    );
    assert.equal(w.shown.length, 1);
    assert.deepEqual(shown, {
      title: 'bob',
      options: {
        body: 'see you at 8',
        icon: '/icons/icon-192.png',
        badge: '/icons/badge-96.png',
        tag: 'chat:abc',
        renotify: true,
        data: { url: `${ORIGIN}/#/chat/abc`, id: 'n1', kind: 'message' },
      },
    });
  });

  test('a payload\'s foreign url is replaced by the start page; no tag means no renotify', async () => {
    const w = loadWorker();
    const shown = await w.push(JSON.stringify({ id: 'n2', kind: 'like', title: 'carol', body: 'liked your post', url: `${ELSEWHERE}/x` }));
    assert.equal(shown.title, 'carol');
    assert.equal(shown.options.data.url, `${ORIGIN}/`);
    assert.equal('tag' in shown.options, false);
    assert.equal('renotify' in shown.options, false);
  });

  test('an unreadable or missing payload still shows the plain kith notification', async () => {
    for (const body of ['not json {', 'hello', '"just a string"', 'null', undefined]) {
      const w = loadWorker();
      const shown = await w.push(body);
      assert.equal(w.shown.length, 1, `payload ${body}`);
      assert.deepEqual(
        shown,
        {
          title: 'kith',
          options: {
            body: 'You have something new.',
            icon: '/icons/icon-192.png',
            badge: '/icons/badge-96.png',
            data: { url: `${ORIGIN}/`, id: null, kind: null },
          },
        },
        `payload ${body}`,
      );
    }
  });
});

describe('push subscription change', () => {
  test('the new subscription is sent to the server and the old one removed', async () => {
    const w = loadWorker();
    const oldSubscription = subscription('https://push.example/old');
    const newSubscription = subscription('https://push.example/new');
    await w.handle(new ExtendableEvent('pushsubscriptionchange', { oldSubscription, newSubscription }));
    assert.deepEqual(w.subscribed, []);
    assert.deepEqual(w.sent, [
      { url: `${ORIGIN}/api/push/subscriptions`, method: 'POST', body: newSubscription.toJSON() },
      { url: `${ORIGIN}/api/push/subscriptions`, method: 'DELETE', body: { endpoint: 'https://push.example/old' } },
    ]);
  });

  test('without a new subscription, the worker subscribes again with the old key', async () => {
    const key = new Uint8Array([4, 1, 2, 3]).buffer;
    const w = loadWorker();
    await w.handle(new ExtendableEvent('pushsubscriptionchange', { oldSubscription: subscription('https://push.example/old', key), newSubscription: null }));
    assert.equal(w.subscribed.length, 1);
    assert.equal(w.subscribed[0].userVisibleOnly, true);
    assert.equal(w.subscribed[0].applicationServerKey, key);
    assert.deepEqual(
      w.sent.map((r) => [r.method, r.body.endpoint]),
      [
        ['POST', 'https://push.example/new-renewed'],
        ['DELETE', 'https://push.example/old'],
      ],
    );
  });
});

describe('fetch', () => {
  test('the API, the socket, media, ranges and non-GET requests are left to the browser; the app\'s GETs are answered', async () => {
    const w = loadWorker();
    const bypassed = [
      incoming('/api/feed'),
      incoming('/api'),
      incoming('/api/chat/conversations?limit=20'),
      incoming('/ws'),
      incoming('/ws/chat'),
      incoming('/metrics'),
      incoming('/media/abc/video.mp4'),
      incoming('/app.js', { headers: { range: 'bytes=0-' } }),
      incoming('/app.js', { method: 'POST' }),
      incoming('/', { method: 'HEAD', mode: 'navigate' }),
      incoming('/api/posts', { method: 'POST' }),
      incoming(`${ELSEWHERE}/lib.js`),
    ];
    for (const req of bypassed) {
      const event = w.dispatch(new FetchEvent(req));
      assert.equal(event.response, null, `${req.method} ${req.url} is not answered by the worker`);
    }
    assert.deepEqual(w.fetched, []);

    for (const req of [incoming('/app.js'), incoming('/apiary.css'), incoming('/', { mode: 'navigate' }), incoming('/wsx')]) {
      const event = w.dispatch(new FetchEvent(req));
      assert.ok(event.response, `GET ${req.url} is answered by the worker`);
      assert.equal((await event.response).status, 200);
    }
  });

  test('offline, a navigation gets the kept shell and an asset its cached copy', async () => {
    let online = true;
    const w = loadWorker({
      network: () => {
        if (!online) throw new TypeError('Failed to fetch');
        return new Response('fresh', { status: 200 });
      },
    });
    // Online, the shell is kept (a basic response's asset would be too).
    await w.dispatch(new FetchEvent(incoming('/', { mode: 'navigate' }))).response;
    online = false;
    const nav = await w.dispatch(new FetchEvent(incoming('/?utm=x', { mode: 'navigate' }))).response;
    assert.equal(await nav.text(), 'fresh');
    const miss = w.dispatch(new FetchEvent(incoming('/never.js'))).response;
    await assert.rejects(miss, TypeError);
  });
});

describe('install and activate', () => {
  test('install precaches the shell and the offline page from the server, then skips waiting', async () => {
    const w = loadWorker();
    await w.handle(new ExtendableEvent('install'));
    const urls = w.precached.map((p) => p.url);
    for (const path of ['/', '/offline.html', '/manifest.webmanifest', '/icons/icon-192.png']) {
      assert.ok(urls.includes(`${ORIGIN}${path}`), `${path} is precached`);
    }
    assert.ok(w.precached.every((p) => p.cache === 'reload'), 'not from the HTTP cache');
    assert.deepEqual([...w.storage.keys()], [`kith-${RELEASE}`]);
    assert.equal(w.skippedWaiting, true);
  });

  test('activate deletes every cache but this release\'s and claims the open windows', async () => {
    const current = `kith-${RELEASE}`;
    const w = loadWorker({
      caches: ['kith-fedcba9876543210', current, 'kith-__ASSETS_VERSION__', 'other'],
      windows: [{ url: `${ORIGIN}/#/feed`, controlled: false }],
    });
    await w.handle(new ExtendableEvent('activate'));
    assert.deepEqual(w.deleted.sort(), ['kith-__ASSETS_VERSION__', 'kith-fedcba9876543210', 'other']);
    assert.deepEqual([...w.storage.keys()], [current]);
    assert.equal(w.claimed, true);
    assert.equal(w.windows[0].controlled, true);
  });
});
