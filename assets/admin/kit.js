// Pieces the console's pages share: PATCH, a confirmation dialog, a copy
// button, status pills, a sub-context per page, and the
// refresh-while-visible loop.

import { api } from '../api.js';
import { toast } from '../toast.js';
import { h, uid } from '../ui.js';
import { createViewContext } from '../view-context.js';

/** PATCH `path` with a JSON body, through the app's API wrapper (its key and retries). */
export function patch(path, body) {
  return api.patch(path, body);
}

/**
 * Asks before something that cannot be taken back: a modal dialog (the
 * page behind is inert, Tab cycles inside, Esc cancels, focus returns to
 * where it was). Resolves true when confirmed.
 */
export function confirmDialog({ title, body, confirm = 'Confirm', danger = true }) {
  return new Promise((resolve) => {
    const titleId = uid('dlg');
    const bodyId = uid('dlg');
    const before = document.activeElement;
    const cancelBtn = h('button', { type: 'button', class: 'btn btn-secondary', testid: 'confirm-cancel', text: 'Cancel' });
    const okBtn = h('button', { type: 'button', class: ['btn', danger ? 'btn-danger' : 'btn-primary'], testid: 'confirm-ok', text: confirm });
    const dialog = h(
      'dialog',
      { class: 'admin-dialog card', testid: 'confirm-dialog', 'aria-labelledby': titleId, 'aria-describedby': bodyId },
      h('h2', { id: titleId, class: 'admin-dialog-title', text: title }),
      h('p', { id: bodyId, class: 'admin-dialog-body', text: body }),
      h('div', { class: 'admin-dialog-actions' }, cancelBtn, okBtn),
    );
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      if (dialog.open) dialog.close();
      dialog.remove();
      if (before && typeof before.focus === 'function' && document.contains(before)) before.focus();
      resolve(ok);
    };
    dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      finish(false);
    });
    dialog.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        finish(false);
        return;
      }
      if (e.key !== 'Tab') return;
      const items = [cancelBtn, okBtn];
      const i = items.indexOf(document.activeElement);
      e.preventDefault();
      const next = e.shiftKey ? (i <= 0 ? items.length - 1 : i - 1) : (i + 1) % items.length;
      items[next].focus();
    });
    dialog.addEventListener('click', (e) => {
      // A click on the backdrop (outside the card) cancels.
      if (e.target === dialog) {
        const r = dialog.getBoundingClientRect();
        const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
        if (!inside) finish(false);
      }
    });
    cancelBtn.addEventListener('click', () => finish(false));
    okBtn.addEventListener('click', () => finish(true));
    document.body.append(dialog);
    dialog.showModal();
    // The safe choice has the focus, so Enter never bans by accident.
    cancelBtn.focus();
  });
}

/** A button that copies `text()` to the clipboard and says so. */
export function copyButton(text, { label = 'Copy', testid = 'copy-link' } = {}) {
  const b = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', testid, text: label });
  b.addEventListener('click', async () => {
    const value = typeof text === 'function' ? text() : text;
    try {
      await navigator.clipboard.writeText(value);
      b.textContent = 'Copied';
      setTimeout(() => {
        b.textContent = label;
      }, 1500);
    } catch {
      // No clipboard (an insecure origin, a refused permission): select
      // the text next to the button so it can be copied by hand.
      const input = b.parentElement?.querySelector('input');
      if (input) {
        input.focus();
        input.select();
      }
      toast('Press Ctrl+C (⌘C) to copy the selected link.');
    }
  });
  return b;
}

/** A read-only link field with a copy button. */
export function linkField(url, { label = 'Link', testid = 'link-field' } = {}) {
  const id = uid('link');
  const input = h('input', { id, class: 'input admin-link-input', readonly: true, value: url, testid });
  input.addEventListener('focus', () => input.select());
  return h('div', { class: 'admin-link' }, h('label', { class: 'sr-only', for: id, text: label }), input, copyButton(() => input.value));
}

/** A small coloured label: tone is one of ok, warn, danger, info, muted. */
export function tag(text, tone = 'muted', testid) {
  return h('span', { class: ['admin-tag', `tone-${tone}-tag`], testid, text });
}

/** A context for one console page, ended with the page or the console. */
export function childContext(parent) {
  const ctx = createViewContext();
  parent.cleanup(() => ctx.dispose());
  return ctx;
}

/**
 * Runs `fn` every `ms` while the page is mounted and the browser tab is
 * visible; when the tab comes back it runs at once. `fn` may return
 * false to skip rescheduling checks (it is still called next time).
 */
export function refreshWhileVisible(ctx, fn, ms) {
  let timer = null;
  let busy = false;
  const tick = async () => {
    timer = null;
    if (!ctx.alive) return;
    if (document.visibilityState === 'hidden') return;
    if (!busy) {
      busy = true;
      try {
        await fn();
      } finally {
        busy = false;
      }
    }
    schedule();
  };
  const schedule = () => {
    if (!ctx.alive || timer !== null || document.visibilityState === 'hidden') return;
    timer = setTimeout(tick, ms);
  };
  ctx.listen(document, 'visibilitychange', () => {
    if (document.visibilityState === 'hidden') {
      clearTimeout(timer);
      timer = null;
    } else if (timer === null) {
      tick();
    }
  });
  ctx.cleanup(() => clearTimeout(timer));
  schedule();
  return {
    /** Starts over the wait (after a manual refresh). */
    reset() {
      clearTimeout(timer);
      timer = null;
      schedule();
    },
  };
}

/** Marks a page as loaded (its first answer shown), for tests and screenshots. */
export function markReady(el) {
  el.dataset.ready = 'true';
}

/** A user's name for lists: display name and @username, or a placeholder. */
export function who(user) {
  if (!user) return h('span', { class: 'muted', text: 'deleted account' });
  return h(
    'span',
    { class: 'admin-who' },
    h('span', { class: 'admin-who-name', text: user.display_name || user.username }),
    h('span', { class: 'admin-who-handle muted', text: `@${user.username}` }),
  );
}

/**
 * A row of toggle buttons choosing one value (aria-pressed on the chosen
 * one); `onChange(value)` on a change. Returns { el, set(value) }.
 */
export function segmented(label, options, value, onChange, testidPrefix) {
  let current = value;
  const buttons = options.map(([v, text]) => {
    const b = h('button', { type: 'button', class: 'seg-btn', testid: `${testidPrefix}-${v}`, dataset: { value: v }, text });
    b.addEventListener('click', () => {
      if (v === current) return;
      set(v);
      onChange(v);
    });
    return b;
  });
  const el = h('div', { class: 'seg', role: 'group', 'aria-label': label }, buttons);
  function set(v) {
    current = v;
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.value === v));
  }
  set(value);
  return { el, set };
}

/**
 * A list loaded a page at a time: `fetchPage(cursor)` answers
 * { items, next_cursor }; `row(item)` builds an element. A "Load more"
 * button fetches the next page; `reload()` starts over (a newer request
 * wins over an older one still under way).
 */
export function pagedList(ctx, { fetchPage, row, empty, testid, shared, onReady, tagName = 'ul', className = 'admin-list card' }) {
  const list = h(tagName, { class: className, testid });
  const err = h('p', { class: 'form-error', role: 'alert', hidden: true, testid: `${testid}-error` });
  const more = h('button', { type: 'button', class: 'btn btn-secondary admin-more', testid: `${testid}-more`, hidden: true, text: 'Load more' });
  const emptyEl = () => h('li', { class: 'admin-empty', testid: `${testid}-empty` }, typeof empty === 'function' ? empty() : empty);
  let cursor = null;
  let seq = 0;
  let count = 0;
  let pages = 0;
  const load = async (reset) => {
    const mine = ++seq;
    more.hidden = true;
    err.hidden = true;
    if (reset) {
      cursor = null;
      count = 0;
      list.replaceChildren(h('li', { class: 'admin-list-loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { class: 'sr-only', text: 'Loading…' })));
      list.setAttribute('aria-busy', 'true');
      list.dataset.ready = 'false';
    } else {
      more.disabled = true;
    }
    try {
      const page = await fetchPage(cursor);
      if (!ctx.alive || mine !== seq) return;
      if (reset) {
        list.replaceChildren();
        pages = 0;
      }
      pages += 1;
      const items = page.items || [];
      for (const it of items) list.append(row(it));
      count += items.length;
      cursor = page.next_cursor || null;
      more.hidden = !cursor;
      if (!count) list.append(emptyEl());
    } catch (e) {
      if (!ctx.alive || mine !== seq) return;
      if (shared?.denied(e)) return;
      if (reset) list.replaceChildren();
      err.textContent = e?.message || 'Something went wrong.';
      err.hidden = false;
      more.hidden = !cursor;
    } finally {
      if (mine === seq && ctx.alive) {
        list.removeAttribute('aria-busy');
        more.disabled = false;
        list.dataset.ready = 'true';
        onReady?.();
      }
    }
  };
  more.addEventListener('click', () => load(false));
  return {
    el: h('div', { class: 'admin-paged' }, err, list, more),
    list,
    reload: () => load(true),
    /** How many pages are shown. */
    get pages() {
      return pages;
    },
    /**
     * Fetches the first page again and swaps it in without a spinner (for
     * auto-refresh); skipped while more pages are shown, a load is under
     * way or the focus is inside the list (it would be lost).
     */
    async refresh() {
      if (pages > 1 || list.getAttribute('aria-busy') === 'true' || list.contains(document.activeElement)) return;
      const mine = ++seq;
      try {
        const page = await fetchPage(null);
        if (!ctx.alive || mine !== seq || list.contains(document.activeElement)) return;
        const items = page.items || [];
        list.replaceChildren(...items.map(row));
        count = items.length;
        pages = 1;
        cursor = page.next_cursor || null;
        more.hidden = !cursor;
        err.hidden = true;
        if (!count) list.append(emptyEl());
      } catch (e) {
        if (ctx.alive && mine === seq) shared?.denied(e);
      }
    },
    /** Shows the empty note once the last row has gone (resolved, approved). */
    checkEmpty() {
      if (!list.querySelector('[data-row]') && !list.querySelector('.admin-empty')) list.append(emptyEl());
    },
  };
}

/**
 * Where the focus goes when a row's action replaced or removed the row:
 * the button at the same place in the new row, else the first button of
 * the next (or previous) row, else `fallback`.
 */
export function refocus(oldRow, button, { fresh, fallback } = {}) {
  const buttons = (row) => [...row.querySelectorAll('button:not([disabled])')];
  if (fresh) {
    const i = [...oldRow.querySelectorAll('button')].indexOf(button);
    const b = buttons(fresh);
    (b[Math.min(Math.max(0, i), b.length - 1)] || fresh).focus?.();
    return;
  }
  const near = oldRow.nextElementSibling || oldRow.previousElementSibling;
  return () => {
    const b = near?.isConnected ? buttons(near)[0] : null;
    if (b) b.focus();
    else fallback?.focus();
  };
}
