// The route table: which view a location hash shows.
//
// A route is { name, view, params, nav, public }: `view` is a module with
// mount(root, params, ctx) and optionally update(params, ctx); `nav` is the
// shell's link to highlight; `public` routes are for signed-out visitors.

import * as auth from './views/auth.js';
import * as chatView from './views/chat.js';
import * as feed from './views/feed.js';
import * as friends from './views/friends.js';
import * as notifications from './views/notifications.js';
import * as single from './views/post-page.js';
import * as profile from './views/profile.js';

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

/** The route for `hash` (e.g. '#/u/alice'), or null for an unknown one; `me` is the signed-in username. */
export function routeFor(hash, me) {
  const [head, arg] = segments(hash);
  switch (head) {
    case 'login':
      return { name: 'login', view: auth.login, public: true };
    case 'signup':
      return { name: 'signup', view: auth.signup, public: true };
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
    default:
      return null;
  }
}
