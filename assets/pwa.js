// The installable app: registers the service worker (sw.js) and turns push
// notifications on and off for this device. Imported by app.js; without
// service workers (an old browser, plain http) it does nothing and the app
// runs unchanged.

import { api } from './api.js';

const SW_URL = '/sw.js';

/** True when this browser can receive push notifications from kith. */
export function pushSupported() {
  return typeof window !== 'undefined' &&
    window.isSecureContext === true &&
    'serviceWorker' in navigator &&
    'PushManager' in window &&
    'Notification' in window;
}

/** The worker's registration, registering it when the load-time one has not happened. */
async function registration() {
  const existing = await navigator.serviceWorker.getRegistration('/');
  if (!existing) await navigator.serviceWorker.register(SW_URL, { scope: '/', updateViaCache: 'none' });
  return navigator.serviceWorker.ready;
}

/** This device's push subscription, or null. */
async function currentSubscription() {
  const reg = await navigator.serviceWorker.getRegistration('/');
  return reg ? reg.pushManager.getSubscription() : null;
}

/**
 * Push on this device: 'unsupported' (the browser cannot), 'denied' (the
 * person blocked notifications for this site), 'off' or 'on'.
 */
export async function pushState() {
  if (!pushSupported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  if (Notification.permission !== 'granted') return 'off';
  try {
    return (await currentSubscription()) ? 'on' : 'off';
  } catch {
    return 'off';
  }
}

/** A base64url string (the server's VAPID public key) as bytes. */
export function base64UrlBytes(s) {
  const b64 = String(s).replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function sameBytes(a, b) {
  if (!a || !b) return false;
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * Turns push on for this device and returns the new pushState(). Call it
 * from a click: the browser asks its permission question only then. The
 * subscription is kept only if the server stored it, so "on" here always
 * means the server can reach this device.
 */
export async function enablePush() {
  if (!pushSupported()) return 'unsupported';
  const permission = await Notification.requestPermission();
  if (permission === 'denied') return 'denied';
  if (permission !== 'granted') return 'off';
  const { public_key: publicKey } = await api.get('/api/push/key');
  const key = base64UrlBytes(publicKey);
  const reg = await registration();
  let sub = await reg.pushManager.getSubscription();
  // A subscription made for another server key (the server's keys were
  // replaced) cannot be reused: subscribe() would refuse it.
  if (sub && !sameBytes(sub.options.applicationServerKey, key)) {
    await sub.unsubscribe();
    sub = null;
  }
  if (!sub) sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  try {
    await api.post('/api/push/subscriptions', sub.toJSON());
  } catch (e) {
    await sub.unsubscribe().catch(() => {});
    throw e;
  }
  return 'on';
}

/**
 * Turns push off for this device: the browser forgets the subscription
 * first (so nothing more arrives even if the server cannot be told), then
 * the server forgets it. Returns the new pushState().
 */
export async function disablePush() {
  if (!pushSupported()) return 'unsupported';
  const sub = await currentSubscription();
  if (sub) {
    const { endpoint } = sub;
    await sub.unsubscribe();
    try {
      await api.del('/api/push/subscriptions', { endpoint });
    } catch (e) {
      // Already gone on the server: what was asked for is done.
      if (e.status !== 404) throw e;
    }
  }
  return pushState();
}

/**
 * After signing out (the button, another device, expiry): the server
 * ended this browser's push subscription with the session; the browser
 * forgets it too, so whoever signs in here next starts with push off and
 * decides for themselves.
 */
export async function forgetPush() {
  if (!pushSupported()) return;
  try {
    const sub = await currentSubscription();
    await sub?.unsubscribe();
  } catch {
    // Nothing arrives for it any more either way: the server forgot it.
  }
}

function register() {
  navigator.serviceWorker.register(SW_URL, { scope: '/', updateViaCache: 'none' }).catch((e) => {
    // The app works without it (no offline start, no push): say why, quietly.
    console.warn('kith: the service worker could not be registered:', e?.message || e);
  });
  // A notification clicked while this window is open but not controlled by
  // the worker: the worker asks the page to go where the notification points.
  navigator.serviceWorker.addEventListener('message', (event) => {
    const d = event.data;
    if (d?.type !== 'kith:navigate' || typeof d.url !== 'string') return;
    const url = new URL(d.url, location.origin);
    if (url.origin !== location.origin) return;
    if (url.pathname === location.pathname) location.hash = url.hash;
    else location.assign(url.href);
  });
}

if (typeof window !== 'undefined' && 'serviceWorker' in navigator) {
  // After load: the worker's precaching should not compete with the first page.
  if (document.readyState === 'complete') register();
  else window.addEventListener('load', register, { once: true });
}
