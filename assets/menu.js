// A "…" menu: a button that shows a short list of actions below it (a
// disclosure, so every item is an ordinary button in the tab order).
// Escape or a click elsewhere closes it and focus returns to the button.

import { icon } from './icons.js';
import { h, uid } from './ui.js';

/**
 * `items`: [{ label, onSelect, testid, danger }] (falsy entries skipped).
 * `label`: the button's accessible name ("More actions for this post").
 */
export function moreMenu(items, { label = 'More actions', testid = 'more-menu', cls = '' } = {}) {
  const id = uid('menu');
  const button = h('button', {
    type: 'button',
    class: ['btn btn-ghost btn-sm btn-icon more-button', cls],
    testid,
    'aria-label': label,
    title: label,
    'aria-expanded': 'false',
    'aria-controls': id,
  }, icon('more'));
  const list = h('div', { class: 'menu-list', id, hidden: true });
  const wrap = h('div', { class: 'menu' }, button, list);

  const onDoc = (e) => {
    if (!wrap.contains(e.target)) close(false);
  };
  const onKey = (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      close(true);
    }
  };
  function close(refocus) {
    if (list.hidden) return;
    list.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onDoc, true);
    wrap.removeEventListener('keydown', onKey);
    if (refocus) button.focus();
  }
  const open = () => {
    list.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', onDoc, true);
    wrap.addEventListener('keydown', onKey);
    list.querySelector('button')?.focus();
  };
  button.addEventListener('click', () => (list.hidden ? open() : close(true)));
  wrap.addEventListener('focusout', (e) => {
    if (!list.hidden && e.relatedTarget && !wrap.contains(e.relatedTarget)) close(false);
  });

  for (const it of items.filter(Boolean)) {
    const b = h('button', { type: 'button', class: ['menu-item', it.danger ? 'is-danger' : null], testid: it.testid, text: it.label });
    b.addEventListener('click', () => {
      close(false);
      it.onSelect(button);
    });
    list.append(b);
  }
  return wrap;
}
