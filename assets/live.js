// What is on screen, told to the server in one `watch` frame
// (docs/protocol.md): the posts every mounted view shows, and whether a
// feed is shown. Views register what they show under a key of their own
// and drop it when they unmount; the union is sent, debounced, and sent
// again on every new connection (a watch lives as long as its connection).

import { bus } from './bus.js';
import { EVENTS } from './events.js';
import { state } from './store.js';

/** The server's bound on watched posts (MAX_WATCHED in core/src/protocol.rs). */
export const MAX_WATCHED = 50;
/** Views mount and unmount in bursts (a route change): one frame for each burst. */
const SEND_DELAY_MS = 50;

const posts = new Map();
const feeds = new Set();
let timer = null;
let lastSent = '';

/** The newest posts first win the bound: what was registered last is on screen. */
function union() {
  const all = [];
  for (const ids of [...posts.values()].reverse()) {
    for (const id of ids) {
      if (!all.includes(id)) all.push(id);
    }
  }
  return all.slice(0, MAX_WATCHED);
}

function flush(force = false) {
  timer = null;
  const frame = { type: 'watch', posts: union(), feed: feeds.size > 0 };
  const text = JSON.stringify(frame);
  if (!force && text === lastSent) return;
  if (state.realtime?.send(frame)) lastSent = text;
}

function schedule() {
  if (timer === null) timer = setTimeout(flush, SEND_DELAY_MS);
}

/** Registers the posts view `key` shows (replacing what it showed). */
export function watchPosts(key, ids) {
  posts.set(key, [...new Set(ids)]);
  schedule();
}

/** Registers whether view `key` shows a feed. */
export function watchFeed(key, on) {
  if (on) feeds.add(key);
  else feeds.delete(key);
  schedule();
}

/** View `key` is gone. */
export function unwatch(key) {
  const had = posts.delete(key) || feeds.delete(key);
  if (had) schedule();
}

/** The frames of live content, as bus events. */
export function onLiveFrame(f) {
  switch (f.type) {
    case 'post_counts':
      bus.emit(EVENTS.LIVE_COUNTS, { post_id: f.post_id, like_count: f.like_count, comment_count: f.comment_count });
      return true;
    case 'comment':
      bus.emit(EVENTS.LIVE_COMMENT, { post_id: f.post_id, comment: f.comment });
      return true;
    case 'comment_removed':
      bus.emit(EVENTS.LIVE_COMMENT_REMOVED, { post_id: f.post_id, comment_id: f.comment_id });
      return true;
    case 'post_changed':
      bus.emit(EVENTS.POST_STALE, { id: f.post_id, kind: 'changed' });
      return true;
    case 'feed_post':
      bus.emit(EVENTS.LIVE_FEED_POST, { post_id: f.post_id, author: f.author });
      return true;
    case 'watching':
      return true;
    default:
      return false;
  }
}

// A new connection watches nothing until told.
bus.on(EVENTS.REALTIME_OPEN, () => {
  lastSent = '';
  flush(true);
});
