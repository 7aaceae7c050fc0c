// User text on the page: links, @mentions and #tags made clickable, long
// bodies folded. Text only ever goes in as text nodes; links are <a>
// elements built here for http and https URLs only, so `javascript:` or
// markup in a post stays plain text. Mentions and tags are found with the
// server's rules (core/src/text.rs), so what links here is what notified
// someone and what a tag page lists.

import { h, uid } from './ui.js';

/** The most mentions one text may notify (MAX_MENTIONS in core/src/text.rs). */
export const MAX_MENTIONS = 20;
/** The most tags one text counts (MAX_TAGS). */
export const MAX_TAGS = 10;
/** The longest tag, in characters (MAX_TAG_CHARS). */
export const MAX_TAG_CHARS = 50;

/** Where a URL may start: http:// or https://, not inside a word. */
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/giu;
/** Characters a sentence may put right after a URL. */
const TRAILING = /[.,;:!?'"’”»…]$/u;
const PAIRS = { ')': '(', ']': '[', '}': '{' };

/**
 * A character that joins the word before an `@` or `#`: Rust's
 * `char::is_alphanumeric` (Alphabetic, or a number: Nd, Nl, No), `_`, `.`
 * and `/`. After one of these, `mail@example.com` and `page#anchor` are
 * neither a mention nor a tag.
 */
const JOINS = /^[\p{Alphabetic}\p{N}_./]$/u;
/** A username's characters (ASCII only), as many as follow the `@`. */
const NAME_RUN = /[A-Za-z0-9_.]*/y;
/** A tag's characters (any script), as many as follow the `#`. */
const TAG_RUN = /[\p{Alphabetic}\p{N}_]*/uy;
const TAG_CHAR = /^[\p{Alphabetic}\p{N}_]$/u;

function count(s, ch) {
  let n = 0;
  for (const c of s) if (c === ch) n += 1;
  return n;
}

/** Each character of `s` (a code point, as Rust's `char`) with its UTF-16 index. */
function* withIndex(s) {
  let i = 0;
  for (const c of s) {
    yield [i, c];
    i += c.length;
  }
}

const boundary = (prev) => prev === undefined || !JOINS.test(prev);

/** Whether an `@` or `#` at UTF-16 index `i` of `text` may start a mention or tag. */
export function startsWord(text, i) {
  if (i <= 0) return true;
  const low = text.charCodeAt(i - 1);
  const high = i >= 2 ? text.charCodeAt(i - 2) : 0;
  const paired = low >= 0xdc00 && low <= 0xdfff && high >= 0xd800 && high <= 0xdbff;
  return boundary(String.fromCodePoint(text.codePointAt(paired ? i - 2 : i - 1)));
}

/**
 * Every `@name` in `text` that reads as a mention, repeats included:
 * { start, end, name } (UTF-16 offsets of `@name`). A name is 3 to 32
 * letters, digits, `_` or `.` starting with a letter or digit (the sign-up
 * rule); a trailing `.` ends the sentence, not the name.
 */
function mentionSpans(text) {
  const out = [];
  let prev;
  for (const [i, c] of withIndex(text)) {
    if (c === '@' && boundary(prev)) {
      NAME_RUN.lastIndex = i + 1;
      const name = NAME_RUN.exec(text)[0].replace(/\.+$/u, '');
      if (/^[A-Za-z0-9]/.test(name) && name.length >= 3 && name.length <= 32) {
        out.push({ start: i, end: i + 1 + name.length, name });
      }
    }
    prev = c;
  }
  return out;
}

/**
 * Every `#tag` in `text`, repeats included: { start, end, tag } with `tag`
 * lowercased. A tag is letters, digits and `_` (any script), 1 to
 * MAX_TAG_CHARS characters, not all digits.
 */
function tagSpans(text) {
  const out = [];
  let prev;
  for (const [i, c] of withIndex(text)) {
    if (c === '#' && boundary(prev)) {
      TAG_RUN.lastIndex = i + 1;
      const raw = TAG_RUN.exec(text)[0];
      const n = [...raw].length;
      if (n >= 1 && n <= MAX_TAG_CHARS && !/^[0-9]+$/.test(raw)) {
        out.push({ start: i, end: i + 1 + raw.length, tag: raw.toLowerCase() });
      }
    }
    prev = c;
  }
  return out;
}

/**
 * The usernames `@mentioned` in `text`, in order of first mention, without
 * repeats (whatever the case), at most MAX_MENTIONS: `mentions` of
 * core/src/text.rs.
 */
export function mentions(text) {
  const out = [];
  for (const { name } of mentionSpans(String(text ?? ''))) {
    const lower = name.toLowerCase();
    if (out.some((n) => n.toLowerCase() === lower)) continue;
    out.push(name);
    if (out.length === MAX_MENTIONS) break;
  }
  return out;
}

/**
 * The `#tags` in `text`, lowercased, in order of first use, without
 * repeats, at most MAX_TAGS: `hashtags` of core/src/text.rs.
 */
export function hashtags(text) {
  const out = [];
  for (const { tag } of tagSpans(String(text ?? ''))) {
    if (out.includes(tag)) continue;
    out.push(tag);
    if (out.length === MAX_TAGS) break;
  }
  return out;
}

/** Whether `tag` (without `#`) is one `hashtags` could find: `is_tag`. */
export function isTag(tag) {
  const chars = [...String(tag ?? '')];
  return chars.length >= 1 && chars.length <= MAX_TAG_CHARS
    && chars.every((c) => TAG_CHAR.test(c))
    && !chars.every((c) => c >= '0' && c <= '9');
}

/** Where a profile is: `#/u/<name>`. */
export const profileHref = (username) => `#/u/${encodeURIComponent(username)}`;
/** Where a tag's posts are: `#/tags/<tag>`, lowercased as the server keeps it. */
export const tagHref = (tag) => `#/tags/${encodeURIComponent(String(tag).toLowerCase())}`;

/**
 * Drops what reads as punctuation after a URL: "see https://a.example/x."
 * links https://a.example/x; a closing bracket stays only when the URL
 * opened one (https://en.wikipedia.org/wiki/Rust_(language)).
 */
function trimUrl(url) {
  let u = url;
  for (;;) {
    const last = u.slice(-1);
    if (TRAILING.test(last)) {
      u = u.slice(0, -1);
    } else if (PAIRS[last] && count(u, last) > count(u, PAIRS[last])) {
      u = u.slice(0, -1);
    } else {
      return u;
    }
  }
}

/** The URL as a link target, or null when it is not a usable http(s) URL. */
function hrefOf(raw) {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    if (!u.hostname) return null;
    return u.href;
  } catch {
    return null;
  }
}

/**
 * `text` cut into pieces to show: { type: 'text', text }, { type: 'url',
 * text, href }, { type: 'mention', text, username } and { type: 'tag',
 * text, tag }. `known`: the usernames the server resolved (a PostView's
 * `mentions`); only those link, under their own spelling. Without it every
 * name `mentions()` finds links. Tags link as `hashtags()` finds them. A
 * mention or tag inside a URL stays part of the URL.
 */
export function tokens(text, { mentions: known } = {}) {
  const s = text === null || text === undefined ? '' : String(text);
  const spans = [];
  for (const m of s.matchAll(URL_RE)) {
    const url = trimUrl(m[0]);
    const href = hrefOf(url);
    if (href) spans.push({ start: m.index, end: m.index + url.length, token: { type: 'url', text: url, href } });
  }
  const inUrl = (sp) => spans.some((u) => u.token.type === 'url' && sp.start < u.end && u.start < sp.end);

  const names = new Map();
  for (const n of Array.isArray(known) ? known : mentions(s)) {
    if (typeof n === 'string' && !names.has(n.toLowerCase())) names.set(n.toLowerCase(), n);
  }
  const tags = new Set(hashtags(s));
  const extra = [];
  for (const sp of mentionSpans(s)) {
    const username = names.get(sp.name.toLowerCase());
    if (username && !inUrl(sp)) extra.push({ ...sp, token: { type: 'mention', text: s.slice(sp.start, sp.end), username } });
  }
  for (const sp of tagSpans(s)) {
    if (tags.has(sp.tag) && !inUrl(sp)) extra.push({ ...sp, token: { type: 'tag', text: s.slice(sp.start, sp.end), tag: sp.tag } });
  }
  spans.push(...extra);
  spans.sort((a, b) => a.start - b.start);

  const out = [];
  let at = 0;
  for (const sp of spans) {
    if (sp.start < at) continue;
    if (sp.start > at) out.push({ type: 'text', text: s.slice(at, sp.start) });
    out.push(sp.token);
    at = sp.end;
  }
  if (at < s.length) out.push({ type: 'text', text: s.slice(at) });
  return out;
}

/**
 * `text` as a DocumentFragment: text nodes; an <a> (new tab, no referrer,
 * nofollow) for each http or https URL; a link to the profile of each
 * mentioned user and to the page of each tag (see `tokens` for `opts`).
 * Never parses HTML.
 */
export function richText(text, opts) {
  const frag = document.createDocumentFragment();
  for (const t of tokens(text, opts)) {
    if (t.type === 'url') {
      frag.append(h('a', { class: 'rich-link', href: t.href, target: '_blank', rel: 'noopener noreferrer nofollow', text: t.text }));
    } else if (t.type === 'mention') {
      frag.append(h('a', { class: 'mention', href: profileHref(t.username), dataset: { username: t.username }, text: t.text }));
    } else if (t.type === 'tag') {
      frag.append(h('a', { class: 'hashtag', href: tagHref(t.tag), dataset: { tag: t.tag }, text: t.text }));
    } else {
      frag.append(document.createTextNode(t.text));
    }
  }
  return frag;
}

/** Below this many characters a body cannot reach its fold, even at 320 px. */
const CHARS_PER_LINE_MIN = 20;

/**
 * Folds a long body after `lines` lines with a "See more" button
 * (aria-expanded) that shows it whole, then "See less". Returns the element
 * to put on the page in place of `el`: `el` itself when it is too short to
 * ever fold, else a wrapper holding `el` and the button. The button only
 * shows when the text really overflows (measured once laid out, and again
 * when the width changes).
 */
export function foldable(el, { lines = 8 } = {}) {
  const text = el.textContent || '';
  const breaks = count(text, '\n');
  if (text.length < lines * CHARS_PER_LINE_MIN && breaks < lines) return el;

  if (!el.id) el.id = uid('fold');
  el.classList.add('fold-body', 'is-folded');
  // CSSOM, not a style attribute: allowed by the CSP.
  el.style.setProperty('--fold-lines', String(lines));
  const button = h('button', {
    type: 'button',
    class: 'fold-toggle',
    testid: 'see-more',
    'aria-expanded': 'false',
    'aria-controls': el.id,
    hidden: true,
    text: 'See more',
  });
  const wrap = h('div', { class: 'foldable' }, el, button);
  let expanded = false;

  // Folds only when it hides more than a couple of lines: a body just
  // past the fold is shown whole rather than behind a button.
  const measure = () => {
    if (expanded) return;
    const lineHeight = Number.parseFloat(getComputedStyle(el).lineHeight) || 24;
    const over = el.scrollHeight > (lines + 2) * lineHeight + 2;
    button.hidden = !over;
    el.classList.toggle('is-folded', over);
    el.classList.toggle('is-clipped', over);
  };
  const set = (open) => {
    expanded = open;
    el.classList.toggle('is-folded', !open);
    el.classList.toggle('is-clipped', !open);
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
    button.textContent = open ? 'See less' : 'See more';
    if (!open) {
      measure();
      // Folding up from far below: bring the post's start back in view.
      const top = el.getBoundingClientRect().top;
      if (top < 0) el.scrollIntoView({ block: 'start' });
    }
  };
  button.addEventListener('click', () => set(!expanded));
  // A link past the fold reached with Tab: show it all rather than scroll a clipped box.
  el.addEventListener('focusin', () => {
    if (!expanded && !button.hidden) set(true);
  });
  if ('ResizeObserver' in window) {
    new ResizeObserver(() => measure()).observe(el);
  } else {
    requestAnimationFrame(measure);
  }
  return wrap;
}
