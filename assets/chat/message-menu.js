// The actions on one message: a button beside the bubble (shown on hover
// or focus; on a touch screen a long press on the bubble opens it too)
// that shows the reactions to pick and the actions (Reply, Edit, Copy,
// Unsend, Report). A disclosure, as the "…" menu (menu.js) is: every
// choice is an ordinary button in the tab order; Escape or a click
// elsewhere closes it and focus returns to the button.

import { icon } from '../icons.js';
import { h, uid } from '../ui.js';
import { REACTIONS } from './items.js';

/** A press this long on a bubble (touch) opens its actions. */
const LONG_PRESS_MS = 450;
/** A finger that moves further than this is scrolling, not pressing. */
const LONG_PRESS_SLOP_PX = 10;

/**
 * `label`: the button's accessible name ("Actions for Bob's message").
 * `build()` is called on each opening and answers what to offer now:
 * { reactions: null | { has(emoji) -> bool, pick(emoji, on) }, items:
 * [{ label, testid, danger, onSelect(opener) }] }.
 * Returns { el, button, open(), close(refocus), pressTarget(el) }.
 */
export function messageMenu({ label, build }) {
  const id = uid('msg-actions');
  const button = h('button', {
    type: 'button',
    class: 'btn btn-ghost btn-icon msg-actions-button',
    testid: 'message-actions',
    'aria-label': label,
    title: 'Reply, react and more',
    'aria-expanded': 'false',
    'aria-controls': id,
  }, icon('more'));
  const panel = h('div', { class: 'msg-actions-panel', id, role: 'group', 'aria-label': label, testid: 'message-actions-panel', hidden: true });
  const el = h('div', { class: 'msg-actions' }, button, panel);

  const onDoc = (e) => {
    if (!el.contains(e.target)) close(false);
  };
  const onKey = (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      close(true);
    }
  };

  function close(refocus) {
    if (panel.hidden) return;
    panel.hidden = true;
    panel.replaceChildren();
    button.setAttribute('aria-expanded', 'false');
    el.classList.remove('is-open');
    document.removeEventListener('pointerdown', onDoc, true);
    el.removeEventListener('keydown', onKey);
    if (refocus) button.focus();
  }

  // Focus back on the button first: a dialog the choice opens returns it there.
  const choose = (fn) => () => {
    close(true);
    fn(button);
  };

  function open() {
    if (!panel.hidden) return;
    const { reactions, items } = build();
    if (reactions) {
      panel.append(h('div', { class: 'reaction-picker', role: 'group', 'aria-label': 'React' },
        REACTIONS.map((emoji) => {
          const on = reactions.has(emoji);
          return h('button', {
            type: 'button',
            class: 'reaction-pick',
            testid: 'reaction-pick',
            dataset: { emoji },
            'aria-pressed': on ? 'true' : 'false',
            'aria-label': on ? `Take back your ${emoji}` : `React with ${emoji}`,
            title: on ? 'Take back' : `React with ${emoji}`,
            text: emoji,
            onclick: choose(() => reactions.pick(emoji, !on)),
          });
        })));
    }
    for (const it of items.filter(Boolean)) {
      panel.append(h('button', {
        type: 'button',
        class: ['menu-item', it.danger ? 'is-danger' : null],
        testid: it.testid,
        text: it.label,
        onclick: choose(it.onSelect),
      }));
    }
    if (!panel.childElementCount) return;
    panel.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    el.classList.add('is-open');
    // Upward when there is no room below it inside the scrolling list.
    el.classList.remove('opens-up');
    const box = panel.getBoundingClientRect();
    const scroller = el.closest('.messages');
    const bottom = scroller ? scroller.getBoundingClientRect().bottom : window.innerHeight;
    if (box.bottom > bottom) el.classList.add('opens-up');
    document.addEventListener('pointerdown', onDoc, true);
    el.addEventListener('keydown', onKey);
    panel.querySelector('button')?.focus();
  }

  button.addEventListener('click', () => (panel.hidden ? open() : close(true)));
  el.addEventListener('focusout', (e) => {
    if (!panel.hidden && e.relatedTarget && !el.contains(e.relatedTarget)) close(false);
  });

  /**
   * Opens the menu on a long press (touch) or a right click on `target`
   * (the bubble), except on its links and media, which keep their own.
   */
  const pressTarget = (target) => {
    let timer = null;
    let start = null;
    const cancel = () => {
      clearTimeout(timer);
      timer = null;
    };
    const own = (e) => e.target instanceof Element && e.target.closest('a, video, button, img');
    target.addEventListener('pointerdown', (e) => {
      if (e.pointerType !== 'touch' || own(e)) return;
      start = { x: e.clientX, y: e.clientY };
      cancel();
      timer = setTimeout(() => {
        timer = null;
        open();
      }, LONG_PRESS_MS);
    });
    target.addEventListener('pointermove', (e) => {
      if (timer && start && Math.hypot(e.clientX - start.x, e.clientY - start.y) > LONG_PRESS_SLOP_PX) cancel();
    });
    for (const type of ['pointerup', 'pointercancel', 'pointerleave']) target.addEventListener(type, cancel);
    target.addEventListener('contextmenu', (e) => {
      if (own(e)) return;
      e.preventDefault();
      cancel();
      open();
    });
  };

  return { el, button, open, close, pressTarget };
}
