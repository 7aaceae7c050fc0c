// Shows the current location's view: signed-in pages inside the shell,
// the sign-in pages on their own, with one view mounted at a time. A
// signed-in page opened signed out goes to the sign-in page, which comes
// back to it once signed in (session.js); an unknown address shows the
// not-found page.

import { setReturnTo } from './auth-flow.js';
import { navigate } from './router.js';
import { isHome, notFoundRoute, routeFor } from './routes.js';
import { ensureShell, setNavActive, shellMain, teardownShell } from './shell.js';
import { state } from './store.js';
import { h, replace } from './ui.js';
import { createViewContext } from './view-context.js';

const app = document.getElementById('app');

/** The mounted view: { route, ctx, root }, or null. */
let current = null;

/** Takes the mounted view down (its context undoes its listeners and timers). */
export function unmountView() {
  if (!current) return;
  current.ctx.dispose();
  current = null;
}

/** Shows the view for location.hash, redirecting where the visitor may not go. */
export function showRoute() {
  const isSignedIn = !!state.me;
  let r = routeFor(location.hash, state.me ? state.me.username : null);
  if (!r) {
    if (isHome(location.hash)) {
      navigate(isSignedIn ? '#/feed' : '#/login', { replace: true });
      return;
    }
    r = notFoundRoute(isSignedIn);
  }
  if (!isSignedIn && !r.public) {
    // Back here once signed in (or signed up).
    setReturnTo(location.hash);
    navigate('#/login', { replace: true });
    return;
  }
  if (isSignedIn && r.public) {
    navigate('#/feed', { replace: true });
    return;
  }
  // Same view, new parameters (e.g. another conversation): let it adapt.
  if (current && current.route.view === r.view && r.view.update && current.ctx.alive) {
    if (r.view.update(r.params || {}, current.ctx) !== false) {
      current.route = r;
      setNavActive(r.nav);
      return;
    }
  }
  unmountView();
  let root;
  if (r.public) {
    teardownShell();
    root = h('main', { id: 'main', class: 'auth-main' });
    replace(app, root);
  } else {
    ensureShell(app);
    root = shellMain();
    replace(root);
    setNavActive(r.nav);
  }
  const ctx = createViewContext();
  current = { route: r, ctx, root };
  document.body.dataset.route = r.name;
  try {
    r.view.mount(root, r.params || {}, ctx);
  } catch (e) {
    replace(root, h('h1', { text: 'Something went wrong' }), h('p', { text: String(e?.message) }));
    throw e;
  }
  // Move focus to the new page unless the view focused something itself.
  if (!r.public && !root.contains(document.activeElement)) root.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}
