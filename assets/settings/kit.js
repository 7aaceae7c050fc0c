// Pieces the settings sections share: a titled card, a status line that
// is announced, a copy-to-clipboard button, busy buttons, and the child
// context each section runs in.

import { icon } from '../icons.js';
import { toast } from '../toast.js';
import { h } from '../ui.js';
import { createViewContext } from '../view-context.js';

/** A settings card: a heading, an optional description, then its content. */
export function card({ title, description, testid, iconName }, ...children) {
  const headingId = `${testid || 'card'}-title`;
  return h('section', { class: 'card settings-card', testid, 'aria-labelledby': headingId },
    h('header', { class: 'settings-card-head' },
      iconName ? h('span', { class: 'settings-card-icon', 'aria-hidden': 'true' }, icon(iconName)) : null,
      h('div', {},
        h('h2', { class: 'settings-card-title', id: headingId, text: title }),
        description ? h('p', { class: 'settings-card-desc', text: description }) : null)),
    children);
}

/** A polite status line (what was saved), cleared after a while. */
export function statusLine(testid) {
  const el = h('p', { class: 'settings-status', testid, role: 'status', 'aria-live': 'polite' });
  let t = null;
  return {
    el,
    say(text, ms = 5000) {
      clearTimeout(t);
      el.textContent = text;
      if (ms) t = setTimeout(() => { el.textContent = ''; }, ms);
    },
  };
}

/** Marks a button busy (disabled, aria-busy) while `fn` runs; rethrows. */
export async function whileBusy(button, fn) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** Copies `text`; true when it worked (clipboard, else a hidden textarea). */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const ta = h('textarea', { class: 'sr-only', readonly: true, 'aria-hidden': 'true' });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

/** A "Copy link" button for `text`. */
export function copyButton(text, { label = 'Copy link', testid = 'copy-link' } = {}) {
  const b = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', testid }, icon('copy', 'icon icon-xs'), h('span', { text: label }));
  b.addEventListener('click', async () => {
    if (await copyText(text)) toast('Link copied.');
    else toast('Could not copy: select the link and copy it yourself.', 'error');
  });
  return b;
}

/** A context that ends with its parent or when disposed itself. */
export function childContext(parent) {
  const c = createViewContext();
  parent.cleanup(() => c.dispose());
  return c;
}

/** "3 of 10", "1 use" and the like. */
export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}
