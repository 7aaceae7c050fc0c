// A page's "could not load" box: one message and a "Try again" button, in
// place of what failed to load. Views pair it with ctx.onReconnect (see
// view-context.js) so that what failed while offline loads by itself once
// the connection is back.

import { h, messageOf } from './ui.js';

/** Whether `err` says the server could not be reached (offline, or it is down). */
export function isOffline(err) {
  return !!err && (err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504);
}

/**
 * { el, failed, show(err), clear() }: `retry` runs on "Try again". `testid`
 * names the box (default `load-error`); its button is `try-again`.
 */
export function loadError({ retry, testid = 'load-error' }) {
  const text = h('p', { class: 'load-error-text' });
  const hint = h('p', { class: 'load-error-hint', text: 'It loads by itself once the connection is back.' });
  const button = h('button', { type: 'button', class: 'btn btn-secondary', testid: 'try-again', text: 'Try again' });
  const el = h('div', { class: 'load-error', testid, role: 'alert', hidden: true }, text, hint, button);
  const box = {
    el,
    /** True while the error shows: what it stands for is still to load. */
    failed: false,
    show(err) {
      text.textContent = messageOf(err);
      hint.hidden = !isOffline(err);
      el.hidden = false;
      box.failed = true;
    },
    clear() {
      el.hidden = true;
      box.failed = false;
    },
  };
  button.addEventListener('click', () => {
    button.disabled = true;
    Promise.resolve()
      .then(retry)
      .finally(() => {
        button.disabled = false;
      });
  });
  return box;
}
