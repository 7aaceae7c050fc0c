// The session: signing in and out, and finding out at boot whether this
// browser is still signed in (when the server cannot be reached then, a
// "can't reach the server" screen tries again until it can, rather than
// showing the sign-in page to someone who is signed in).

import { api, setUnauthorizedHandler } from './api.js';
import { setAuthNotice, takeReturnTo } from './auth-flow.js';
import { bus } from './bus.js';
import { chat, loadConversations } from './chat/client.js';
import { EVENTS } from './events.js';
import { isOffline } from './load-error.js';
import { retryDelay } from './realtime.js';
import { setKickedHandler, startRealtime, stopRealtime } from './realtime-dispatch.js';
import { forgetPush } from './pwa.js';
import { navigate } from './router.js';
import { teardownShell } from './shell.js';
import { refreshNotifCount, resetState, state } from './store.js';
import { h, replace } from './ui.js';
import { unmountView } from './view-host.js';

// Whether this browser was signed in when last seen. Without it the boot
// skips GET /api/me, whose 401 the browser would log as an error.
const SESSION_HINT = 'kith.session';
/** How long a kicked connection waits before asking whether it is still signed in. */
const KICK_ASK_AFTER_MS = 500;

function setSessionHint(on) {
  try {
    if (on) localStorage.setItem(SESSION_HINT, '1');
    else localStorage.removeItem(SESSION_HINT);
  } catch {
    // storage unavailable: always ask the server
  }
}

function sessionHint() {
  try {
    return localStorage.getItem(SESSION_HINT) === '1';
  } catch {
    return true;
  }
}

/** Called once signed in (boot, login or signup). */
function signedIn(user) {
  state.me = user;
  setSessionHint(true);
  const listLoading = loadConversations().catch(() => {});
  refreshNotifCount();
  startRealtime(listLoading);
}

function signedOut() {
  setSessionHint(false);
  forgetPush();
  unmountView();
  stopRealtime();
  teardownShell();
  resetState();
  chat.reset();
}

/** The log out button. */
export async function logout() {
  try {
    await api.post('/api/auth/logout');
  } catch {
    // signed out locally either way
  }
  signedOut();
  navigate('#/login');
}

const BANNED_NOTICE = 'This account has been banned from this server.';
const SIGNED_OUT_NOTICE = 'You were signed out. Sign in again to carry on.';

/** Follows sign-ins, account deletion and expired sessions. */
export function watchSession() {
  bus.on(EVENTS.SESSION_STARTED, (user) => {
    signedIn(user);
    // A link opened while signed out (an address to verify) comes back.
    navigate(takeReturnTo() || '#/feed');
  });
  // The account is gone (deleted from its profile page).
  bus.on(EVENTS.SESSION_ENDED, () => {
    signedOut();
    navigate('#/login', { replace: true });
  });
  setUnauthorizedHandler((err) => {
    if (!state.me) return;
    // The server says when a ban ended the session: a request can learn
    // it before the socket's close does.
    setAuthNotice(err?.code === 'banned' ? BANNED_NOTICE : SIGNED_OUT_NOTICE);
    signedOut();
    navigate('#/login', { replace: true });
  });
  // The server closed the realtime connection because a session ended:
  // this one (signed out from another device, a password reset, a ban),
  // or only its old id (a new password on this device renews it, and so
  // does signing in again in another tab). Ask, after a moment: the kick
  // can come before the other tab's answer has brought the new cookie
  // (every node reads the log of ended sessions four times a second), and
  // asking at once would read as signed out.
  setKickedHandler(async (reason) => {
    // A ban is never another tab's sign-in: no need to wait for a cookie.
    if (reason !== 'banned') await new Promise((resolve) => setTimeout(resolve, KICK_ASK_AFTER_MS));
    let user = null;
    let banned = reason === 'banned';
    try {
      ({ user } = await api.get('/api/me', { quiet401: true }));
    } catch (e) {
      banned ||= e.code === 'banned';
      if (e.status !== 401 && e.status !== 403) {
        // Could not tell (offline?): try the connection again later.
        setTimeout(() => state.realtime?.reconnectNow(), 2000);
        return;
      }
    }
    if (!state.me) return;
    if (user && user.id === state.me.id) {
      state.realtime?.reconnectNow();
      return;
    }
    setAuthNotice(banned ? BANNED_NOTICE : SIGNED_OUT_NOTICE);
    signedOut();
    navigate('#/login', { replace: true });
  });
}

/**
 * At boot, while the server cannot be reached: a screen that says so,
 * counts down to the next try and offers "Retry now". Resolves when it is
 * time to try again (the wait ran out, the network or the page came back,
 * or the button was pressed).
 */
function waitForServer(attempt) {
  const app = document.getElementById('app');
  const detail = h('span', { 'aria-hidden': 'true' });
  const retry = h('button', { type: 'button', class: 'btn btn-primary', testid: 'retry-now', text: 'Retry now' });
  replace(app, h('main', { id: 'main', class: 'auth-main' },
    h('div', { class: 'card auth-card boot-offline', testid: 'boot-offline', role: 'status' },
      h('h1', { class: 'auth-title', text: 'Can’t reach the server' }),
      h('p', { class: 'auth-sub' }, 'kith will open as soon as it is back. ', detail),
      retry)));
  const until = Date.now() + retryDelay(attempt, { visible: document.visibilityState !== 'hidden' }) * 2;
  return new Promise((resolve) => {
    const tick = () => {
      const left = Math.max(0, until - Date.now());
      detail.textContent = `Trying again in ${Math.max(1, Math.ceil(left / 1000))} s.`;
      if (left === 0) done();
    };
    const wake = () => {
      if (document.visibilityState !== 'hidden') done();
    };
    const timer = setInterval(tick, 250);
    function done() {
      clearInterval(timer);
      window.removeEventListener('online', done);
      document.removeEventListener('visibilitychange', wake);
      detail.textContent = 'Connecting…';
      retry.disabled = true;
      resolve();
    }
    window.addEventListener('online', done);
    document.addEventListener('visibilitychange', wake);
    retry.addEventListener('click', done);
    tick();
  });
}

/** At boot: resumes the session this browser had, if the server still knows it. */
export async function restoreSession() {
  if (!sessionHint()) return;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const { user } = await api.get('/api/me', { quiet401: true });
      signedIn(user);
      return;
    } catch (e) {
      state.me = null;
      if (e && e.status === 401) setSessionHint(false);
      // Unreachable: wait for the server rather than sign out who is signed in.
      if (!isOffline(e)) return;
      await waitForServer(attempt);
    }
  }
}
