// A mounted view's context: what it subscribes to, listens to and
// schedules is undone when the view goes away, so views never leak
// listeners or timers into the next page. `onReconnect` is how a view that
// failed to load while offline loads again by itself once the connection
// is back.

import { bus } from './bus.js';
import { EVENTS } from './events.js';
import { navigate } from './router.js';

export function createViewContext() {
  const cleanups = [];
  const ctx = {
    /** False once the view is gone: late async results must be dropped. */
    alive: true,
    /** Listens to a bus event while the view is mounted. */
    on(type, fn) {
      cleanups.push(bus.on(type, fn));
    },
    listen(target, type, fn, opts) {
      target.addEventListener(type, fn, opts);
      cleanups.push(() => target.removeEventListener(type, fn, opts));
    },
    interval(fn, ms) {
      const t = setInterval(fn, ms);
      cleanups.push(() => clearInterval(t));
      return t;
    },
    timeout(fn, ms) {
      const t = setTimeout(fn, ms);
      cleanups.push(() => clearTimeout(t));
      return t;
    },
    cleanup(fn) {
      cleanups.push(fn);
    },
    /**
     * Calls `fn` each time the realtime connection is back after it was
     * lost (a `hello` that is not the first), while the view is mounted:
     * reload there whatever failed to load meanwhile.
     */
    onReconnect(fn) {
      cleanups.push(bus.on(EVENTS.REALTIME_OPEN, (d) => {
        if (d?.reconnect && ctx.alive) fn();
      }));
    },
    navigate,
    dispose() {
      ctx.alive = false;
      for (const fn of cleanups.splice(0)) {
        try {
          fn();
        } catch {
          // one failed cleanup must not keep the others from running
        }
      }
    },
  };
  return ctx;
}
