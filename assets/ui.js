// DOM helpers. Everything user-supplied goes in as text nodes or attribute
// values, never as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Builds an element. `attrs` keys:
 * - `class`: a string or an array (falsy entries dropped)
 * - `testid`: sets data-testid
 * - `text`: sets textContent
 * - `on<event>` (function): an event listener
 * - `dataset`: an object of data-* values
 * - booleans set or remove the attribute; null/undefined are skipped
 * - `value`, `checked`, `disabled`, `selected`, `hidden` are set as properties
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) applyAttrs(el, attrs);
  append(el, children);
  return el;
}

function applyAttrs(el, attrs) {
  for (const [key, val] of Object.entries(attrs)) {
    if (val === null || val === undefined) continue;
    if (key === 'class') {
      const cls = Array.isArray(val) ? val.filter(Boolean).join(' ') : val;
      if (cls) el.className = cls;
    } else if (key === 'testid') {
      el.setAttribute('data-testid', val);
    } else if (key === 'text') {
      el.textContent = String(val);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(val)) {
        if (v !== null && v !== undefined) el.dataset[k] = String(v);
      }
    } else if (key.startsWith('on') && typeof val === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), val);
    } else if (key === 'value' || key === 'checked' || key === 'selected') {
      el[key] = val;
    } else if (val === true) {
      el.setAttribute(key, '');
    } else if (val === false) {
      el.removeAttribute(key);
    } else {
      el.setAttribute(key, String(val));
    }
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// ---- icons ------------------------------------------------------------------

// 24×24 stroke icons (outline style), drawn with currentColor.
const ICONS = {
  home: ['M3 10.5 12 3l9 7.5', 'M5 9.5V20a1 1 0 0 0 1 1h4v-6h4v6h4a1 1 0 0 0 1-1V9.5'],
  users: [
    'M16 20v-1.5a3.5 3.5 0 0 0-3.5-3.5h-5A3.5 3.5 0 0 0 4 18.5V20',
    'M10 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7',
    'M20 20v-1.5a3.5 3.5 0 0 0-2.5-3.35',
    'M15 4.15a3.5 3.5 0 0 1 0 6.7',
  ],
  chat: ['M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z'],
  bell: ['M6 16V11a6 6 0 1 1 12 0v5l1.5 2h-15z', 'M10 20.5a2 2 0 0 0 4 0'],
  user: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8', 'M4.5 20.5a7.5 7.5 0 0 1 15 0'],
  logout: ['M15 4h3a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-3', 'M10 16l-4-4 4-4', 'M6 12h10'],
  heart: ['M12 20s-7.5-4.6-9-9.3C2 7.6 4.1 5 7 5c2 0 3.6 1.1 5 3 1.4-1.9 3-3 5-3 2.9 0 5 2.6 4 5.7C19.5 15.4 12 20 12 20z'],
  comment: ['M20 15a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2h12a2 2 0 0 1 2 2z'],
  video: ['M3 7a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z', 'M16 10l5-3v10l-5-3'],
  send: ['M4 12l16-8-6 16-2.5-6.5z', 'M11.5 13.5 20 4'],
  back: ['M15 5l-7 7 7 7'],
  search: ['M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14', 'M20 20l-4-4'],
  check: ['M5 12.5l4.5 4.5L19 7.5'],
  x: ['M6 6l12 12', 'M18 6 6 18'],
  globe: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18', 'M3 12h18', 'M12 3c2.5 2.6 3.8 5.6 3.8 9s-1.3 6.4-3.8 9c-2.5-2.6-3.8-5.6-3.8-9S9.5 5.6 12 3z'],
  lock: ['M6 11h12v9H6z', 'M8.5 11V8a3.5 3.5 0 0 1 7 0v3'],
  plus: ['M12 5v14', 'M5 12h14'],
};

export function icon(name, cls = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of ICONS[name] || []) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

// ---- small components -----------------------------------------------------

const AVATAR_COLORS = 8;

function hashOf(s) {
  let x = 0;
  for (const ch of s) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x;
}

/** A round avatar with the user's initial, its colour picked from the name. */
export function avatar(user, size = 'md') {
  const name = (user && (user.display_name || user.username)) || '?';
  const initial = [...name.trim()][0] || '?';
  const tone = hashOf((user && user.username) || name) % AVATAR_COLORS;
  return h('span', { class: ['avatar', `avatar-${size}`, `tone-${tone}`], 'aria-hidden': 'true', text: initial.toUpperCase() });
}

/** A visually hidden label bound to a control. */
export function srLabel(forId, text) {
  return h('label', { class: 'sr-only', for: forId, text });
}

/**
 * An error region (role=alert) that shows an API error's message. Only a
 * page's main form uses the `form-error` test id, so it stays unique.
 */
export function formError(testid = 'form-error') {
  const el = h('p', { class: 'form-error', testid, role: 'alert', hidden: true });
  return {
    el,
    show(err) {
      el.textContent = messageOf(err);
      el.hidden = false;
    },
    clear() {
      el.textContent = '';
      el.hidden = true;
    },
  };
}

// A button that runs `fn(button)` on click: disabled while it runs; when it
// fails, enabled again with the error shown in `err` (a formError()).
export function actionButton(err, label, cls, testid, fn) {
  const b = h('button', { type: 'button', class: `btn ${cls}`, testid, text: label });
  b.addEventListener('click', async () => {
    b.disabled = true;
    err.clear();
    try {
      await fn(b);
    } catch (e) {
      b.disabled = false;
      err.show(e);
    }
  });
  return b;
}

export function messageOf(err) {
  if (!err) return 'Something went wrong.';
  if (typeof err === 'string') return err;
  return err.message || 'Something went wrong.';
}

export function emptyState(title, detail) {
  return h('div', { class: 'empty', testid: 'empty-state' },
    h('p', { class: 'empty-title', text: title }),
    detail ? h('p', { class: 'empty-detail', text: detail }) : null);
}

export function spinner(label = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { class: 'sr-only', text: label }));
}

/** Sets a badge's number, hiding it at 0. */
export function setBadge(el, n) {
  const v = Math.max(0, n | 0);
  el.textContent = String(v);
  el.hidden = v === 0;
}

let idCounter = 0;
export function uid(prefix = 'f') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// ---- time -----------------------------------------------------------------

const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat
  ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' })
  : null;

export function relativeTime(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const diff = (t - Date.now()) / 1000;
  const abs = Math.abs(diff);
  if (abs < 45) return 'just now';
  if (!rtf) return new Date(t).toLocaleString();
  if (abs < 3600) return rtf.format(Math.round(diff / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(diff / 3600), 'hour');
  if (abs < 86400 * 7) return rtf.format(Math.round(diff / 86400), 'day');
  return new Date(t).toLocaleDateString();
}

export function timeEl(iso, cls = 'time') {
  const d = new Date(iso);
  return h('time', {
    class: cls,
    datetime: iso,
    title: Number.isNaN(d.getTime()) ? '' : d.toLocaleString(),
    text: relativeTime(iso),
  });
}

export function clockTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Calls `fn` at most once per `ms`, trailing. */
export function debounce(fn, ms) {
  let t = null;
  const wrapped = (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(t);
  return wrapped;
}
