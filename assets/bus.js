// The event bus that tells views about changes to shared state. Only the
// names declared in events.js are accepted.

import { isEvent } from './events.js';

function checked(type) {
  if (!isEvent(type)) throw new Error(`unknown event ${JSON.stringify(type)}: declare it in events.js`);
  return type;
}

/** A new bus; the app has one (below), tests make their own. */
export function createBus() {
  const listeners = new Map();
  return {
    /** Calls `fn(detail)` on every `type` event; returns the unsubscribe function. */
    on(type, fn) {
      checked(type);
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type).add(fn);
      return () => listeners.get(type)?.delete(fn);
    },
    emit(type, detail) {
      checked(type);
      for (const fn of [...(listeners.get(type) || [])]) {
        try {
          fn(detail);
        } catch (e) {
          // A broken listener must not break the others; the error is
          // still reported, just not here.
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    },
  };
}

export const bus = createBus();
