// Settings › Profile: your photo (the same controls as on your profile
// page: choose, crop square, upload), the name people see and a short
// bio (300 characters, counted as you type).

import { api } from '../api.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { avatarControls } from '../mediakit/avatar.js';
import { state } from '../store.js';
import { avatar, formError, h } from '../ui.js';
import { card, statusLine, whileBusy } from './kit.js';

export const BIO_MAX = 300;
const NAME_MAX = 64;

/** "12 / 300", and whether it is near or over the limit. */
export function counterText(n, max = BIO_MAX) {
  return { text: `${n} / ${max}`, near: n >= max - 20, over: n > max };
}

export function render(el, ctx, shared) {
  const me = shared.me;

  // Photo.
  // A new photo replaces it with the rest of yours (the shell's showNewAvatar).
  const preview = h('span', { class: 'settings-avatar' }, avatar(me, 'xl'));
  const photo = card({ title: 'Profile photo', description: 'A square photo; you choose the part that shows.', testid: 'settings-photo' },
    h('div', { class: 'settings-photo' }, preview, avatarControls()));

  // Name and bio.
  const err = formError('profile-error');
  const status = statusLine('profile-status');
  const name = h('input', { id: 'settings-display-name', class: 'input', testid: 'settings-display-name', maxlength: String(NAME_MAX), autocomplete: 'nickname', value: me.display_name || me.username });
  const bio = h('textarea', { id: 'settings-bio', class: 'input', testid: 'settings-bio', rows: '4', 'aria-describedby': 'settings-bio-count settings-bio-hint' });
  bio.value = me.bio || '';
  const count = h('span', { class: 'char-count', id: 'settings-bio-count', testid: 'bio-count' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'profile-save', text: 'Save profile' });
  const chars = (s) => [...s].length;
  const saved = { name: name.value, bio: bio.value };
  const refresh = () => {
    const c = counterText(chars(bio.value));
    count.textContent = c.text;
    count.classList.toggle('near-limit', c.near);
    count.classList.toggle('over-limit', c.over);
    bio.setAttribute('aria-invalid', c.over ? 'true' : 'false');
    save.disabled = (name.value.trim() === saved.name.trim() && bio.value === saved.bio) || c.over || !name.value.trim();
  };
  name.addEventListener('input', refresh);
  bio.addEventListener('input', refresh);
  refresh();

  const form = h('form', { class: 'settings-form', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: name.id, text: 'Display name' }),
      name,
      h('p', { class: 'hint', text: `Shown beside your username @${me.username}. Up to ${NAME_MAX} characters.` })),
    h('div', { class: 'field' },
      h('div', { class: 'field-row' }, h('label', { for: bio.id, text: 'Bio' }), count),
      bio,
      h('p', { class: 'hint', id: 'settings-bio-hint', text: 'A few words about you, shown on your profile.' })),
    err.el,
    h('div', { class: 'settings-actions' }, save, status.el));

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.clear();
    if (chars(bio.value) > BIO_MAX) {
      err.show(`Your bio is ${chars(bio.value) - BIO_MAX} characters too long.`);
      bio.focus();
      return;
    }
    const display = name.value.trim();
    if (!display) {
      err.show('Enter a display name.');
      name.focus();
      return;
    }
    try {
      const res = await whileBusy(save, () => api.patch('/api/me', { display_name: display, bio: bio.value.trim() }));
      if (!ctx.alive) return;
      const user = res.user;
      shared.me = user;
      saved.name = user.display_name;
      saved.bio = user.bio || '';
      name.value = saved.name;
      bio.value = saved.bio;
      if (state.me) {
        state.me = { ...state.me, ...user };
        bus.emit(EVENTS.ME_CHANGED, state.me);
      }
      status.say('Saved.');
    } catch (ex) {
      err.show(ex);
    } finally {
      if (ctx.alive) refresh();
    }
  });

  const details = card({ title: 'About you', description: 'What people see on your profile and beside your posts.', testid: 'settings-about' }, form,
    h('p', { class: 'settings-foot' }, h('a', { href: `#/u/${encodeURIComponent(me.username)}`, testid: 'settings-view-profile', text: 'View your profile' })));

  el.append(photo, details);
}
