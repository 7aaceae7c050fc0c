// How long a post or a comment may be, and the count that shows as the
// text nears that: the composer, the comment box and the editors share it.
// Characters are counted as the server counts them (Unicode code points,
// so an emoji is one), which is why the fields carry no `maxlength` (it
// counts UTF-16 units: an emoji would be two).

import { h, uid } from '../ui.js';

/** The longest post (MAX_BODY_CHARS in src/social/posts.rs). */
export const POST_MAX = 10_000;
/** The longest comment (MAX_BODY_CHARS in src/social/comments.rs). */
export const COMMENT_MAX = 2_000;

/** The count appears at this share of the limit: a short note never shows it. */
const SHOW_FROM = 0.8;
/** It warns (colour, weight) at this share. */
const NEAR_FROM = 0.95;

/** Characters in `text`, as the server counts them. */
export function chars(text) {
  let n = 0;
  for (const _ of String(text ?? '')) n += 1;
  return n;
}

/** What the count says for `n` of `max`: { text, show, near, over }. */
export function countText(n, max) {
  return {
    text: `${n.toLocaleString('en')} / ${max.toLocaleString('en')}`,
    show: n >= max * SHOW_FROM,
    near: n >= max * NEAR_FROM,
    over: n > max,
  };
}

/** The error for a text over `max`, naming what it is (`noun`: 'post' or 'comment'). */
export function tooLong(noun, n, max) {
  return `A ${noun} can be at most ${max.toLocaleString('en')} characters; this one has ${n.toLocaleString('en')}.`;
}

/**
 * The count for `field`: { el, update(), over() }. `el` goes beside the
 * field (it describes it: a screen reader hears the count with it);
 * `update` runs on every input, and `onChange(over)` when it crosses the
 * limit.
 */
export function lengthCount(field, max, { onChange = () => {} } = {}) {
  const el = h('span', { id: uid('count'), class: 'char-count length-count', testid: 'length-count', hidden: true });
  const described = field.getAttribute('aria-describedby');
  field.setAttribute('aria-describedby', described ? `${described} ${el.id}` : el.id);
  let over = false;
  const update = () => {
    const c = countText(chars(field.value), max);
    el.textContent = c.text;
    el.hidden = !c.show;
    el.classList.toggle('near-limit', c.near && !c.over);
    el.classList.toggle('over-limit', c.over);
    field.setAttribute('aria-invalid', c.over ? 'true' : 'false');
    if (c.over !== over) {
      over = c.over;
      onChange(over);
    }
  };
  field.addEventListener('input', update);
  update();
  return { el, update, over: () => over };
}
