// The strength hint under a new-password field: four bars, a word and
// advice, announced politely as the password is typed.

import { h } from '../ui.js';
import { passwordStrength } from './strength.js';

/** A strength meter bound to a password input. */
export function strengthMeter(pw, username = () => '') {
  const bar = h('span', { class: 'strength-bar', dataset: { score: '0' }, 'aria-hidden': 'true' }, h('span'), h('span'), h('span'), h('span'));
  const label = h('span', { class: 'strength-label', testid: 'strength-label' });
  const hint = h('span', { class: 'strength-hint' });
  const el = h('p', { class: 'strength', 'aria-live': 'polite', hidden: true }, bar, label, hint);
  const update = () => {
    const s = passwordStrength(pw.value, username());
    el.hidden = !pw.value;
    bar.dataset.score = String(s.score);
    label.textContent = `Strength: ${s.label}.`;
    hint.textContent = s.hint ? ` ${s.hint}` : '';
  };
  pw.addEventListener('input', update);
  return { el, update };
}
