// Transient messages in the corner (a live region). A toast belongs to the
// page it was shown on: a route change dismisses it, unless it is `sticky`
// (an undo that must outlive the page) or it was shown just before the
// route changed (a message about the navigation itself).

import { h } from './ui.js';

/** A toast this young survives a route change: it was shown for the navigation. */
const NAV_GRACE_MS = 500;
/** The toasts shown by toast(): element -> { at, sticky, timer }. */
const live = new Map();

function remove(el) {
  const t = live.get(el);
  if (t) clearTimeout(t.timer);
  live.delete(el);
  el.remove();
}

if (typeof window !== 'undefined') {
  window.addEventListener('hashchange', () => {
    const now = Date.now();
    for (const [el, t] of live) {
      if (!t.sticky && now - t.at > NAV_GRACE_MS) remove(el);
    }
  });
}

/**
 * Shows `message` for a few seconds and returns a function that dismisses
 * it. Call as `toast(message, kind, ms)` or `toast(message, options)` with
 * options `{ kind = 'info' | 'error', ms = 4000, sticky = false }`: a
 * sticky toast stays when the route changes.
 */
export function toast(message, kindOrOpts = 'info', ms = 4000) {
  const opts = kindOrOpts && typeof kindOrOpts === 'object' ? kindOrOpts : { kind: kindOrOpts, ms };
  const kind = opts.kind || 'info';
  const duration = opts.ms ?? 4000;
  const region = document.getElementById('toasts');
  if (!region) return () => {};
  const el = h('div', { class: ['toast', `toast-${kind}`], text: message });
  region.append(el);
  while (region.children.length > 3) remove(region.firstElementChild);
  live.set(el, { at: Date.now(), sticky: !!opts.sticky, timer: setTimeout(() => remove(el), duration) });
  return () => remove(el);
}
