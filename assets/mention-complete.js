// Suggesting people while someone types `@name` in a text field: a list of
// matching people under the caret, chosen with the arrow keys and Enter or
// Tab (or a tap), Escape to close. Used by the post composer, comments,
// the post editor and the chat composer.
//
//   const m = attachMentions(textarea, {
//     candidates: async (prefix) => [{ username, display_name, avatar }],
//   });
//   m.detach();   // when the field goes away
//
// `candidates` gets what follows the `@` (1 to 32 characters, as typed)
// and answers people to offer; `peopleSource()` below is the usual one
// (friends first, then anyone search finds). Choosing one replaces the
// typed `@prefix` with `@username ` and fires an `input` event on the
// field, so drafts and counters follow.
//
// While the list is open, the keys it handles (arrows, Enter, Tab, Escape)
// stop there: they do not reach the field's other keydown listeners, so
// Enter picks a name instead of sending a message or submitting the form.
//
// ARIA: an <input> becomes a combobox (role, aria-expanded, aria-controls,
// aria-activedescendant); a <textarea> keeps its textbox role, which the
// combobox role may not replace, and takes the same properties a textbox
// allows (aria-autocomplete, aria-haspopup, aria-controls,
// aria-activedescendant). Either way a status line says how many people
// match.

import { api, qs } from './api.js';
import { state } from './store.js';
import { startsWord } from './text.js';
import { avatar, h, uid } from './ui.js';

/** Suggestions shown at most. */
const LIMIT = 6;
/** Typing pauses this long before people are looked up. */
const DELAY_MS = 120;
/** The friends list is fetched again after this long. */
const FRIENDS_FRESH_MS = 60_000;
/** Below this window width the list spans the field instead of following the caret. */
const NARROW_PX = 560;
/** The list's width beside the caret on a wide screen. */
const LIST_PX = 320;
/** The list's tallest, scrolling beyond (about six people). */
const LIST_MAX_PX = 320;
/** The list's least height when the window is short: two people. */
const LIST_MIN_PX = 96;
/** The room kept between the list and the window's edges. */
const EDGE_PX = 8;

const NAME_CHAR = /[A-Za-z0-9_.]/;

/**
 * The `@prefix` the caret is in, or null: { start, end, prefix } where
 * `start` is the `@`'s index, `end` the end of the whole name (the caret
 * may sit inside it) and `prefix` the part before the caret. Follows the
 * mention rules of text.js: the `@` starts a word, the name starts with a
 * letter or digit and has at most 32 characters.
 */
export function mentionQuery(value, caret) {
  const s = String(value ?? '');
  if (!Number.isInteger(caret) || caret < 0 || caret > s.length) return null;
  let at = caret;
  while (at > 0 && NAME_CHAR.test(s[at - 1])) at -= 1;
  if (at === 0 || s[at - 1] !== '@') return null;
  const start = at - 1;
  if (!startsWord(s, start)) return null;
  const prefix = s.slice(at, caret);
  if (!/^[A-Za-z0-9]/.test(prefix)) return null;
  let end = caret;
  while (end < s.length && NAME_CHAR.test(s[end])) end += 1;
  if (end - at > 32) return null;
  return { start, end, prefix };
}

/**
 * `value` with the mention at `query` replaced by `@username` and a space
 * (unless one follows already): { value, caret } with the caret after it.
 */
export function insertMention(value, query, username) {
  const s = String(value ?? '');
  const after = s.slice(query.end);
  const space = /^\s/.test(after) ? '' : ' ';
  const text = `${s.slice(0, query.start)}@${username}${space}`;
  return { value: text + after, caret: text.length + (space ? 0 : 1) };
}

/**
 * The people to offer for `prefix`, best first: usernames starting with it
 * (an exact match first), then display names with a word starting with it;
 * otherwise in the order given. Repeats (whatever the case) and `exclude`
 * (a username) are left out.
 */
export function rankPeople(people, prefix, { limit = LIMIT, exclude = null } = {}) {
  const p = String(prefix || '').toLowerCase();
  if (!p) return [];
  const skip = exclude ? exclude.toLowerCase() : null;
  const seen = new Set();
  const scored = [];
  for (const [i, u] of (people || []).entries()) {
    const name = typeof u?.username === 'string' ? u.username.toLowerCase() : '';
    if (!name || name === skip || seen.has(name)) continue;
    seen.add(name);
    let score = -1;
    if (name === p) score = 0;
    else if (name.startsWith(p)) score = 1;
    else if (String(u.display_name || '').toLowerCase().split(/[\s._-]+/u).some((w) => w.startsWith(p))) score = 2;
    if (score >= 0) scored.push({ u, score, i });
  }
  scored.sort((a, b) => a.score - b.score || a.i - b.i);
  return scored.slice(0, limit).map((x) => x.u);
}

/**
 * The usual `candidates`: the signed-in user's friends (fetched once a
 * minute at most), then, when they are not enough, whoever `/api/search`
 * finds. Never the user themself.
 */
export function peopleSource({ limit = LIMIT } = {}) {
  let friends = null;
  let fetchedAt = 0;
  const loadFriends = async () => {
    if (friends && Date.now() - fetchedAt < FRIENDS_FRESH_MS) return friends;
    const list = [];
    let cursor = null;
    // Ten pages of 100: more friends than anyone types names of.
    for (let i = 0; i < 10; i += 1) {
      const page = await api.get(`/api/friends${qs({ limit: 100, cursor })}`);
      list.push(...page.items.map((f) => f.user).filter(Boolean));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    friends = list;
    fetchedAt = Date.now();
    return friends;
  };
  return async (prefix) => {
    const exclude = state.me?.username || null;
    const known = await loadFriends().catch(() => friends || []);
    const hits = rankPeople(known, prefix, { limit, exclude });
    if (hits.length >= limit) return hits;
    const found = await api.get(`/api/search${qs({ q: prefix, limit: 10 })}`).catch(() => null);
    return rankPeople([...known, ...(found?.users || [])], prefix, { limit, exclude });
  };
}

// ---- where the caret is ----------------------------------------------------

/** Computed styles a copy of the field needs to wrap its text the same way. */
const MIRRORED = [
  'boxSizing', 'width', 'height', 'overflowX', 'overflowY',
  'borderTopWidth', 'borderRightWidth', 'borderBottomWidth', 'borderLeftWidth', 'borderStyle',
  'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft',
  'fontStyle', 'fontVariant', 'fontWeight', 'fontStretch', 'fontSize', 'lineHeight', 'fontFamily',
  'textAlign', 'textTransform', 'textIndent', 'letterSpacing', 'wordSpacing', 'tabSize',
];

/**
 * The caret's box on screen (viewport coordinates: left, top, height),
 * measured on an invisible copy of the field holding the text up to it.
 */
function caretBox(field, index) {
  const style = getComputedStyle(field);
  const mirror = document.createElement('div');
  for (const p of MIRRORED) mirror.style[p] = style[p];
  mirror.style.position = 'absolute';
  mirror.style.visibility = 'hidden';
  mirror.style.top = '0';
  mirror.style.left = '-9999px';
  const multi = field.tagName === 'TEXTAREA';
  mirror.style.whiteSpace = multi ? 'pre-wrap' : 'pre';
  mirror.style.overflowWrap = multi ? 'anywhere' : 'normal';
  mirror.textContent = field.value.slice(0, index);
  const mark = document.createElement('span');
  // Something to measure even at the end of a line.
  mark.textContent = field.value.slice(index) || '.';
  mirror.append(mark);
  document.body.append(mirror);
  const r = field.getBoundingClientRect();
  const lineHeight = Number.parseFloat(style.lineHeight) || Number.parseFloat(style.fontSize) * 1.4 || 20;
  // offsetLeft/Top count from inside the copy's border, as client{Left,Top} do.
  const box = {
    left: r.left + field.clientLeft + mark.offsetLeft - field.scrollLeft,
    top: r.top + field.clientTop + mark.offsetTop - field.scrollTop,
    height: lineHeight,
  };
  mirror.remove();
  // A caret scrolled out of the field's view is pinned to its edges.
  box.top = Math.min(Math.max(box.top, r.top), r.bottom - box.height);
  box.left = Math.min(Math.max(box.left, r.left), r.right);
  return box;
}

// ---- the list ----------------------------------------------------------------

/**
 * Suggests people for `@mentions` in `field` (a textarea or a text input).
 * Returns { close(), detach(), open }.
 */
export function attachMentions(field, { candidates, limit = LIMIT } = {}) {
  if (typeof candidates !== 'function') throw new TypeError('attachMentions: candidates must be a function');
  const listId = uid('mentions');
  const list = h('ul', { id: listId, class: 'mention-list', role: 'listbox', 'aria-label': 'People to mention', testid: 'mention-list', hidden: true });
  const status = h('span', { class: 'sr-only', role: 'status' });
  const combobox = field.tagName === 'INPUT';

  const saved = {};
  for (const a of ['role', 'aria-autocomplete', 'aria-haspopup', 'aria-controls', 'aria-expanded', 'aria-activedescendant']) saved[a] = field.getAttribute(a);
  if (combobox) {
    field.setAttribute('role', 'combobox');
    field.setAttribute('aria-expanded', 'false');
  } else {
    field.setAttribute('aria-haspopup', 'listbox');
  }
  field.setAttribute('aria-autocomplete', 'list');
  // Beside the field (inside a dialog too, where a list in <body> would
  // sit under the backdrop), out of the flow (position: fixed) so the
  // layout around the field does not change.
  const ensurePlaced = () => {
    if (list.isConnected || !field.parentNode) return;
    field.after(list, status);
    field.setAttribute('aria-controls', listId);
  };
  ensurePlaced();

  let query = null;
  let people = [];
  let active = -1;
  let seq = 0;
  let timer = null;

  const setActive = (i) => {
    active = i;
    for (const [j, li] of [...list.children].entries()) {
      const on = j === i;
      li.setAttribute('aria-selected', on ? 'true' : 'false');
      if (!on) continue;
      field.setAttribute('aria-activedescendant', li.id);
      // Scrolled within the list only: scrollIntoView could move the page.
      if (li.offsetTop < list.scrollTop) list.scrollTop = li.offsetTop;
      else if (li.offsetTop + li.offsetHeight > list.scrollTop + list.clientHeight) list.scrollTop = li.offsetTop + li.offsetHeight - list.clientHeight;
    }
    if (i < 0) field.removeAttribute('aria-activedescendant');
  };

  const place = () => {
    if (list.hidden || !query) return;
    const vv = window.visualViewport;
    const viewTop = vv ? vv.offsetTop : 0;
    const viewBottom = vv ? vv.offsetTop + vv.height : window.innerHeight;
    const viewWidth = document.documentElement.clientWidth || window.innerWidth;
    const r = field.getBoundingClientRect();
    const caret = caretBox(field, query.start);
    const narrow = viewWidth < NARROW_PX;
    const width = narrow ? Math.min(r.width, viewWidth - 2 * EDGE_PX) : Math.min(LIST_PX, viewWidth - 2 * EDGE_PX);
    const left = narrow
      ? Math.max(EDGE_PX, Math.min(r.left, viewWidth - width - EDGE_PX))
      : Math.max(EDGE_PX, Math.min(caret.left - 12, viewWidth - width - EDGE_PX));
    list.style.setProperty('--mention-left', `${Math.round(left)}px`);
    list.style.setProperty('--mention-width', `${Math.round(width)}px`);
    // Below the caret's line when it fits there (a phone's keyboard takes
    // the bottom of the window), else above it, else wherever is roomier.
    list.style.setProperty('--mention-max', `${LIST_MAX_PX}px`);
    const height = list.offsetHeight;
    const below = caret.top + caret.height + 4;
    const above = caret.top - 4;
    const roomBelow = viewBottom - EDGE_PX - below;
    const roomAbove = above - viewTop - EDGE_PX;
    const downward = height <= roomBelow || roomBelow >= roomAbove;
    const room = Math.max(LIST_MIN_PX, Math.floor(downward ? roomBelow : roomAbove));
    list.style.setProperty('--mention-max', `${Math.min(LIST_MAX_PX, room)}px`);
    const top = downward ? below : above - list.offsetHeight;
    list.style.setProperty('--mention-top', `${Math.round(top)}px`);
  };

  const listening = [];
  const watchLayout = (on) => {
    for (const [t, type, fn, opts] of listening.splice(0)) t.removeEventListener(type, fn, opts);
    if (!on) return;
    const add = (t, type, fn, opts) => {
      if (!t) return;
      t.addEventListener(type, fn, opts);
      listening.push([t, type, fn, opts]);
    };
    add(window, 'resize', place, { passive: true });
    add(window, 'scroll', place, { passive: true, capture: true });
    add(window.visualViewport, 'resize', place, { passive: true });
    add(window.visualViewport, 'scroll', place, { passive: true });
  };

  const close = () => {
    clearTimeout(timer);
    seq += 1;
    query = null;
    people = [];
    if (list.hidden) return;
    list.hidden = true;
    list.replaceChildren();
    active = -1;
    field.removeAttribute('aria-activedescendant');
    if (combobox) field.setAttribute('aria-expanded', 'false');
    status.textContent = '';
    watchLayout(false);
  };

  const choose = (i) => {
    const u = people[i];
    if (!u || !query) return;
    const next = insertMention(field.value, query, u.username);
    close();
    field.value = next.value;
    field.setSelectionRange(next.caret, next.caret);
    field.focus();
    field.dispatchEvent(new Event('input', { bubbles: true }));
  };

  const option = (u, i) => {
    const names = u.display_name && u.display_name !== u.username
      ? [h('span', { class: 'mention-display', text: u.display_name }), h('span', { class: 'mention-user', text: `@${u.username}` })]
      : [h('span', { class: 'mention-display', text: `@${u.username}` })];
    const li = h('li', { id: `${listId}-${i}`, class: 'mention-option', role: 'option', 'aria-selected': 'false', testid: 'mention-option', dataset: { username: u.username } },
      avatar(u, 'sm'), h('span', { class: 'mention-names' }, names));
    // Keep the focus (and the caret) in the field.
    li.addEventListener('pointerdown', (e) => e.preventDefault());
    li.addEventListener('mousedown', (e) => e.preventDefault());
    li.addEventListener('click', () => choose(i));
    li.addEventListener('pointermove', () => {
      if (active !== i) setActive(i);
    });
    return li;
  };

  const show = (found) => {
    people = found;
    if (!people.length) {
      close();
      return;
    }
    ensurePlaced();
    list.replaceChildren(...people.map(option));
    const wasHidden = list.hidden;
    list.hidden = false;
    if (combobox) field.setAttribute('aria-expanded', 'true');
    if (wasHidden) watchLayout(true);
    place();
    setActive(0);
    const said = `${people.length === 1 ? 'One person matches' : `${people.length} people match`}. Up and down arrows to choose, Enter to insert.`;
    if (status.textContent !== said) status.textContent = said;
  };

  const lookUp = () => {
    const q = mentionQuery(field.value, field.selectionStart === field.selectionEnd ? field.selectionStart : -1);
    if (!q) {
      close();
      return;
    }
    const same = query && query.start === q.start && query.prefix === q.prefix;
    query = q;
    if (same) {
      place();
      return;
    }
    const mine = ++seq;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      let found = [];
      try {
        found = await candidates(q.prefix);
      } catch {
        found = [];
      }
      if (mine !== seq || !field.isConnected) return;
      show((Array.isArray(found) ? found : []).filter((u) => u && typeof u.username === 'string').slice(0, limit));
    }, DELAY_MS);
  };

  const onInput = () => lookUp();
  const onKeydown = (e) => {
    if (list.hidden || e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return;
    const n = people.length;
    let handled = true;
    if (e.key === 'ArrowDown') setActive((active + 1) % n);
    else if (e.key === 'ArrowUp') setActive((active - 1 + n) % n);
    else if ((e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey) choose(Math.max(active, 0));
    else if (e.key === 'Escape') close();
    else handled = false;
    if (handled) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  };
  // The caret moved without typing (a click, Home, the left arrow): the
  // list follows it, or closes once the caret leaves the name.
  const onMove = (e) => {
    if (list.hidden) return;
    if (e.type === 'keyup' && !['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
    lookUp();
  };
  // Later, not at once: a tap on a person may take the focus for a moment
  // before its click puts it back.
  let blurTimer = null;
  const onBlur = () => {
    clearTimeout(blurTimer);
    blurTimer = setTimeout(() => {
      if (document.activeElement !== field) close();
    }, 150);
  };

  field.addEventListener('input', onInput);
  // Capture: at the field itself capturing listeners run first, so a
  // handled key never reaches the listeners the field already had.
  field.addEventListener('keydown', onKeydown, true);
  field.addEventListener('keyup', onMove);
  field.addEventListener('click', onMove);
  field.addEventListener('blur', onBlur);

  return {
    close,
    get open() {
      return !list.hidden;
    },
    detach() {
      close();
      clearTimeout(blurTimer);
      field.removeEventListener('input', onInput);
      field.removeEventListener('keydown', onKeydown, true);
      field.removeEventListener('keyup', onMove);
      field.removeEventListener('click', onMove);
      field.removeEventListener('blur', onBlur);
      list.remove();
      status.remove();
      for (const [a, v] of Object.entries(saved)) {
        if (v === null) field.removeAttribute(a);
        else field.setAttribute(a, v);
      }
    },
  };
}
