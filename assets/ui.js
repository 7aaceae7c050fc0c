// Building the page's elements, and the small components the views share.
// Everything user-supplied goes in as text nodes or attribute values, never
// as markup.

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

// ---- small components -----------------------------------------------------

const AVATAR_COLORS = 8;

function hashOf(s) {
  let x = 0;
  for (const ch of s) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x;
}

/** CSS pixels of each avatar size (style.css's .avatar-*), for the <img>'s width and height. */
export const AVATAR_PX = { sm: 28, md: 40, xl: 72 };

/** A round avatar with the user's initial, its colour picked from the name. */
export function initialsAvatar(user, size = 'md') {
  const name = (user && (user.display_name || user.username)) || '?';
  const initial = [...name.trim()][0] || '?';
  const tone = hashOf(user?.username || name) % AVATAR_COLORS;
  return h('span', { class: ['avatar', `avatar-${size}`, `tone-${tone}`], 'aria-hidden': 'true', dataset: avatarData(user, size), text: initial.toUpperCase() });
}

/** Marks an avatar with whose it is and its size, so that a new photo can replace it wherever it shows (showNewAvatar). */
function avatarData(user, size) {
  return user?.id == null ? {} : { avatarOf: String(user.id), avatarSize: size };
}

/** Shows `user`'s new or removed photo in every avatar of theirs on the page (posts, comments, lists). */
export function showNewAvatar(user) {
  for (const el of document.querySelectorAll(`[data-avatar-of="${CSS.escape(String(user.id))}"]`)) {
    el.replaceWith(avatar(user, el.dataset.avatarSize || 'md'));
  }
}

/**
 * A user's avatar: their picture (or the server's generated default) from
 * `user.avatar`, the three square sizes offered as a srcset so a sharp
 * screen gets the larger one. Without `avatar` (an older server, a group)
 * or when the picture fails to load, their initial on a colour.
 */
export function avatar(user, size = 'md') {
  const a = user?.avatar;
  if (!a?.small) return initialsAvatar(user, size);
  const px = AVATAR_PX[size] || AVATAR_PX.md;
  const img = h('img', {
    class: ['avatar', `avatar-${size}`, 'avatar-img'],
    src: px > 48 ? a.medium || a.small : a.small,
    alt: '',
    width: String(px),
    height: String(px),
    decoding: 'async',
    draggable: 'false',
    dataset: avatarData(user, size),
  });
  if (a.medium && a.large && (a.small !== a.medium || a.medium !== a.large)) {
    img.setAttribute('srcset', `${a.small} 48w, ${a.medium} 96w, ${a.large} 256w`);
    img.setAttribute('sizes', `${px}px`);
  }
  img.addEventListener('error', () => img.replaceWith(initialsAvatar(user, size)), { once: true });
  return img;
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
