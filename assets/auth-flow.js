// What the sign-in page should say and where to go after signing in:
// "You were signed out" after the server ended this session, "Sign in to
// verify your address" when a verification link was opened signed out,
// and that link to return to; and the server's sign-up settings. Kept in sessionStorage so a reload of the
// sign-in page keeps them (and nothing outlives the tab).

import { api } from './api.js';

const NOTICE = 'kith.authNotice';
const RETURN = 'kith.returnTo';

function put(key, value) {
  try {
    if (value) sessionStorage.setItem(key, value);
    else sessionStorage.removeItem(key);
  } catch {
    // storage unavailable: the message is lost, nothing else
  }
}

function take(key) {
  try {
    const v = sessionStorage.getItem(key);
    sessionStorage.removeItem(key);
    return v;
  } catch {
    return null;
  }
}

/** A message for the next sign-in page (one only: the latest wins). */
export function setAuthNotice(text) {
  put(NOTICE, text);
}

/** The message for this sign-in page, once. */
export function takeAuthNotice() {
  return take(NOTICE);
}

/** A hash to open once signed in (only the app's own #/ routes). */
export function setReturnTo(hash) {
  put(RETURN, typeof hash === 'string' && hash.startsWith('#/') ? hash : null);
}

/** The hash to open after signing in, once; null for the feed. */
export function takeReturnTo() {
  const v = take(RETURN);
  return v?.startsWith('#/') ? v : null;
}

let configPromise = null;

/** The server's sign-up and mail settings (GET /api/auth/config), asked once per page. */
export function authConfig() {
  if (!configPromise) {
    configPromise = api.get('/api/auth/config', { quiet401: true }).catch(() => {
      configPromise = null;
      // An older server without the route: open sign-ups, no mail.
      return { signup: 'open', mail: false, invites_by_users: false };
    });
  }
  return configPromise;
}
