// The session: signing in and out, and finding out at boot whether this
// browser is still signed in.

import { api, setUnauthorizedHandler } from './api.js';
import { setAuthNotice, takeReturnTo } from './auth-flow.js';
import { bus } from './bus.js';
import { chat, loadConversations } from './chat/client.js';
import { EVENTS } from './events.js';
import { setKickedHandler, startRealtime, stopRealtime } from './realtime-dispatch.js';
import { navigate } from './router.js';
import { teardownShell } from './shell.js';
import { refreshNotifCount, resetState, state } from './store.js';
import { unmountView } from './view-host.js';

// Whether this browser was signed in when last seen. Without it the boot
// skips GET /api/me, whose 401 the browser would log as an error.
const SESSION_HINT = 'kith.session';

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
  setUnauthorizedHandler(() => {
    if (!state.me) return;
    setAuthNotice('You were signed out. Sign in again to carry on.');
    signedOut();
    navigate('#/login', { replace: true });
  });
  // The server closed the realtime connection because a session ended:
  // this one (signed out from another device, a password reset, a ban),
  // or only its old id (a new password on this device renews it). Ask.
  setKickedHandler(async (reason) => {
    let user = null;
    try {
      ({ user } = await api.get('/api/me', { quiet401: true }));
    } catch (e) {
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
    setAuthNotice(reason === 'banned' ? 'This account has been banned from this server.' : 'You were signed out. Sign in again to carry on.');
    signedOut();
    navigate('#/login', { replace: true });
  });
}

/** At boot: resumes the session this browser had, if the server still knows it. */
export async function restoreSession() {
  if (!sessionHint()) return;
  try {
    const { user } = await api.get('/api/me', { quiet401: true });
    signedIn(user);
  } catch (e) {
    state.me = null;
    if (e && e.status === 401) setSessionHint(false);
  }
}
