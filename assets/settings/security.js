// Settings › Password: the current password, a new one (with a strength
// hint) and the new one again. The server keeps this device signed in
// under a new session and signs every other device out.

import { api } from '../api.js';
import { toast } from '../toast.js';
import { formError, h } from '../ui.js';
import { card, statusLine, whileBusy } from './kit.js';
import { strengthMeter } from './meter.js';
import { passwordStrength } from './strength.js';

export function render(el, ctx, shared) {
  const err = formError('password-error');
  const status = statusLine('password-status');
  const mk = (id, autocomplete) => h('input', { id, name: id, type: 'password', class: 'input', testid: id, autocomplete });
  const current = mk('current-password', 'current-password');
  const next = mk('new-password', 'new-password');
  const again = mk('confirm-password', 'new-password');
  const meter = strengthMeter(next, () => shared.me?.username || '');
  const save = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'password-save', text: 'Change password' });
  const invalid = (input, on) => input.setAttribute('aria-invalid', on ? 'true' : 'false');

  const form = h('form', { class: 'settings-form', novalidate: true },
    // Lets password managers tie the new password to this account.
    h('input', { type: 'text', class: 'sr-only', autocomplete: 'username', value: shared.me?.username || '', readonly: true, tabindex: '-1', 'aria-hidden': 'true' }),
    h('div', { class: 'field' }, h('label', { for: current.id, text: 'Current password' }), current),
    h('div', { class: 'field' }, h('label', { for: next.id, text: 'New password' }), next, meter.el),
    h('div', { class: 'field' }, h('label', { for: again.id, text: 'New password, again' }), again),
    err.el,
    h('div', { class: 'settings-actions' }, save, status.el));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    for (const i of [current, next, again]) invalid(i, false);
    if (!current.value) {
      err.show('Enter your current password.');
      invalid(current, true);
      current.focus();
      return;
    }
    const s = passwordStrength(next.value, shared.me?.username);
    if (!s.ok) {
      err.show(`Your new password is too short. ${s.hint}`);
      invalid(next, true);
      next.focus();
      return;
    }
    if (next.value !== again.value) {
      err.show('The two new passwords are not the same.');
      invalid(again, true);
      again.focus();
      return;
    }
    if (next.value === current.value) {
      err.show('Your new password is the same as the current one.');
      invalid(next, true);
      next.focus();
      return;
    }
    try {
      await whileBusy(save, () => api.post('/api/me/password', { current_password: current.value, new_password: next.value }));
      if (!ctx.alive) return;
      form.reset();
      meter.update();
      status.say('Your password is changed.');
      toast('Password changed. Your other devices are signed out.');
    } catch (ex) {
      if (ex.code === 'wrong_password' || ex.code === 'bad_credentials') {
        err.show('Your current password is not right.');
        invalid(current, true);
        current.focus();
        current.select();
      } else if (ex.status === 422) {
        err.show(`The server refused the new password: ${ex.message}.`);
        invalid(next, true);
        next.focus();
      } else {
        err.show(ex);
      }
    }
  });

  el.append(card({
    title: 'Change password',
    description: 'You stay signed in here; every other device is signed out.',
    testid: 'settings-password',
  }, form));
}
