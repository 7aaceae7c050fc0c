// The route table: which view a location hash shows.
//
// A route is { name, view, params, nav, public }: `view` is a module with
// mount(root, params, ctx) and optionally update(params, ctx); `nav` is the
// shell's link to highlight; `public` routes are for signed-out visitors.
// Links that arrive by mail (a password reset, an address to verify) work
// either way: public when signed out, inside the shell when signed in.

import * as adminConsole from './admin/console.js';
import * as auth from './views/auth.js';
import * as chatView from './views/chat.js';
import * as feed from './views/feed.js';
import * as friends from './views/friends.js';
import * as notFound from './views/not-found.js';
import * as notifications from './views/notifications.js';
import * as single from './views/post-page.js';
import * as profile from './views/profile.js';
import * as recovery from './views/recovery.js';
import * as settings from './views/settings.js';
import * as tags from './views/tags.js';

function segments(hash) {
  const raw = hash.replace(/^#\/?/, '');
  return raw
    .split('/')
    .filter(Boolean)
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        // A malformed escape: take the segment as it is.
        return p;
      }
    });
}

/** Whether `hash` names no page at all (the site's bare address), which goes to the start page. */
export function isHome(hash) {
  return segments(hash || '').length === 0;
}

/**
 * The not-found page's route for an unknown address: inside the shell when
 * signed in (`me`), on its own when not.
 */
export function notFoundRoute(me) {
  return { name: 'not-found', view: notFound, nav: null, public: !me };
}

/** The route for `hash` (e.g. '#/u/alice'), or null for an unknown one; `me` is the signed-in username. */
export function routeFor(hash, me) {
  const [head, arg] = segments(hash);
  switch (head) {
    case 'login':
      return { name: 'login', view: auth.login, public: true };
    case 'signup':
      return { name: 'signup', view: auth.signup, params: { code: arg || null }, public: true };
    case 'forgot-password':
      return { name: 'forgot-password', view: recovery.forgot, public: true };
    case 'reset-password':
      return arg ? { name: 'reset-password', view: recovery.reset, params: { token: arg }, public: !me } : null;
    case 'verify-email':
      return arg ? { name: 'verify-email', view: recovery.verify, params: { token: arg }, public: !me } : null;
    case 'settings':
      return { name: 'settings', view: settings, params: { section: settings.sectionKey(arg) }, nav: 'settings' };
    case 'admin':
      return { name: 'admin', view: adminConsole, params: { section: arg || 'overview' }, nav: 'admin' };
    case 'feed':
      return { name: 'feed', view: feed, nav: 'feed' };
    case 'u':
      return arg ? { name: 'profile', view: profile, params: { username: arg }, nav: me && arg === me ? 'profile' : null } : null;
    case 'friends':
      return { name: 'friends', view: friends, nav: 'friends' };
    case 'chat':
      return { name: 'chat', view: chatView, params: { id: arg || null }, nav: 'chat' };
    case 'notifications':
      return { name: 'notifications', view: notifications, nav: 'notifications' };
    case 'post':
      return arg ? { name: 'post', view: single, params: { id: arg }, nav: null } : null;
    case 'tags':
      // Tags are kept lowercase: #Rust and #rust are one page.
      return { name: arg ? 'tag' : 'trending', view: tags, params: { tag: arg ? arg.toLowerCase() : null }, nav: null };
    default:
      return null;
  }
}
