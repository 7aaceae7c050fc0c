// User text on the page: links made clickable, long bodies folded.
// Text only ever goes in as text nodes; links are <a> elements built here
// for http and https URLs only, so `javascript:` or markup in a post stays
// plain text.

import { h, uid } from './ui.js';

/** Where a URL may start: http:// or https://, not inside a word. */
const URL_RE = /\bhttps?:\/\/[^\s<>"]+/giu;
/** Characters a sentence may put right after a URL. */
const TRAILING = /[.,;:!?'"’”»…]$/u;
const PAIRS = { ')': '(', ']': '[', '}': '{' };

function count(s, ch) {
  let n = 0;
  for (const c of s) if (c === ch) n += 1;
  return n;
}

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
 * `text` as a DocumentFragment: text nodes, and an <a> (new tab, no
 * referrer, nofollow) for each http or https URL in it. Never parses HTML.
 */
export function richText(text) {
  const frag = document.createDocumentFragment();
  const s = text === null || text === undefined ? '' : String(text);
  let at = 0;
  for (const m of s.matchAll(URL_RE)) {
    const url = trimUrl(m[0]);
    const href = hrefOf(url);
    if (!href) continue;
    if (m.index > at) frag.append(document.createTextNode(s.slice(at, m.index)));
    frag.append(h('a', {
      class: 'rich-link',
      href,
      target: '_blank',
      rel: 'noopener noreferrer nofollow',
      text: url,
    }));
    at = m.index + url.length;
  }
  if (at < s.length) frag.append(document.createTextNode(s.slice(at)));
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
