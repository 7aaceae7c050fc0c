// Boot: wires the client's modules together and shows the first page.
//
// routes.js      which view a location hash shows
// view-host.js   mounts that view (inside shell.js when signed in)
// session.js     signing in and out
// realtime-dispatch.js  the realtime connection and its frames
// chat/          the chat state machine and its pacing (chat/client.js wires it)
// mediakit/      photos and videos: resumable uploads, attachments, the grid,
//                the lightbox, avatars (not `media/`: the server answers
//                /media/{name} with uploaded files, so modules there would 404)
// store.js       shared state; bus.js and events.js announce its changes
// pwa.js         the service worker (offline start, push); imported here,
//                not from index.html, so that settings use the same instance

import { watchPageVisibility } from './chat/client.js';
import { watchNewFriendships } from './realtime-dispatch.js';
import { setRouteHandler } from './router.js';
import { logout, restoreSession, watchSession } from './session.js';
import { setLogoutHandler } from './shell.js';
import { showRoute } from './view-host.js';
import './pwa.js';

setLogoutHandler(logout);
watchNewFriendships();
watchSession();
watchPageVisibility();

async function boot() {
  await restoreSession();
  setRouteHandler(showRoute);
  window.addEventListener('hashchange', showRoute);
  showRoute();
}

boot();
