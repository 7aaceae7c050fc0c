// Changing your profile photo: choose an image, crop it square
// (./crop.js), send the square with PUT /api/me/avatar, then wait for the
// server to make its sizes (the `media` frame, or a check now and then)
// and show the new avatar everywhere (EVENTS.ME_CHANGED). "Remove photo"
// goes back to the generated default with DELETE /api/me/avatar.

import { api } from '../api.js';
import { bus } from '../bus.js';
import { EVENTS } from '../events.js';
import { icon } from '../icons.js';
import { fetchMedia, setMedia, state } from '../store.js';
import { toast } from '../toast.js';
import { h, messageOf, uid } from '../ui.js';
import { cropDialog } from './crop.js';

/** While the new photo is processed, it is checked this often in case a frame is missed … */
const CHECK_MS = 2000;
/** … at most this many times (a minute): a small square does not take longer. */
const CHECKS = 30;
/** /api/me may lag the frame by a moment: asked again this many times, a second apart. */
const ME_TRIES = 5;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Reloads the signed-in user and tells everyone showing them. */
export async function refreshMe() {
  // Quiet on 401: the user may have signed out (or deleted the account)
  // while their new photo was being made.
  const { user } = await api.get('/api/me', { quiet401: true });
  if (!state.me || state.me.id !== user.id) return user;
  state.me = user;
  bus.emit(EVENTS.ME_CHANGED, user);
  return user;
}

/** Resolves with the media view once `id` is ready or failed (frames, else checks). */
function whenProcessed(id) {
  return new Promise((resolve, reject) => {
    let done = false;
    let checks = 0;
    let timer = null;
    const finish = (v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      resolve(v);
    };
    const off = bus.on(EVENTS.MEDIA_CHANGED, (v) => {
      if (v.id === id && (v.status === 'ready' || v.status === 'failed')) finish(v);
    });
    const check = async () => {
      if (done) return;
      checks += 1;
      try {
        const v = await fetchMedia(id);
        if (v.status === 'ready' || v.status === 'failed') return finish(v);
      } catch {
        // try again
      }
      if (checks >= CHECKS) {
        done = true;
        off();
        reject(new Error('Your photo is taking long to process; it will show once it is ready.'));
        return;
      }
      timer = setTimeout(check, CHECK_MS);
    };
    timer = setTimeout(check, CHECK_MS);
  });
}

/** Reloads the signed-in user until their avatar is no longer `oldSmall`. */
async function refreshUntilChanged(oldSmall) {
  let user = null;
  for (let i = 0; i < ME_TRIES; i += 1) {
    // Signed out meanwhile: nothing to refresh.
    if (!state.me) return null;
    try {
      user = await refreshMe();
    } catch {
      return null;
    }
    if (user.avatar?.small !== oldSmall) return user;
    await sleep(1000);
  }
  return user;
}

/**
 * The controls for your own profile photo: "Change photo" (file picker,
 * then the crop dialog) and "Remove photo", with a status line.
 */
export function avatarControls() {
  const id = uid('avatar-file');
  const input = h('input', { id, type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', class: 'file-input', testid: 'avatar-file' });
  const change = h('label', { for: id, class: 'btn btn-secondary btn-file', testid: 'avatar-change' }, icon('camera'), h('span', { text: 'Change photo' }));
  const remove = h('button', { type: 'button', class: 'btn btn-ghost', testid: 'avatar-remove', text: 'Remove photo' });
  const status = h('p', { class: 'avatar-status muted small', role: 'status' });
  const custom = () => !!state.me?.avatar?.custom;
  remove.hidden = !custom();
  let busy = false;

  const setBusy = (on, text = '') => {
    busy = on;
    input.disabled = on;
    remove.disabled = on;
    change.classList.toggle('is-disabled', on);
    status.textContent = text;
  };

  input.addEventListener('change', async () => {
    const file = input.files?.[0];
    input.value = '';
    if (!file || busy) return;
    let blob;
    try {
      blob = await cropDialog(file, { opener: input });
    } catch (e) {
      toast(messageOf(e), 'error');
      return;
    }
    if (!blob) return;
    const oldSmall = state.me?.avatar?.small;
    setBusy(true, 'Uploading your photo…');
    try {
      const view = await api.put('/api/me/avatar', blob);
      setMedia(view);
      let final = view;
      if (view.status !== 'ready' && view.status !== 'failed') {
        status.textContent = 'Processing your photo…';
        final = await whenProcessed(view.id);
      }
      if (final.status === 'failed') throw new Error(final.error ? `Your photo could not be processed: ${final.error}` : 'Your photo could not be processed.');
      await refreshUntilChanged(oldSmall);
      setBusy(false);
      remove.hidden = !custom();
      toast('Your profile photo is updated.');
    } catch (e) {
      setBusy(false);
      status.textContent = messageOf(e);
    }
  });

  remove.addEventListener('click', async () => {
    if (busy) return;
    if (!window.confirm('Remove your profile photo? Your initials show instead.')) return;
    setBusy(true, 'Removing your photo…');
    try {
      await api.del('/api/me/avatar');
      await refreshMe();
      setBusy(false);
      remove.hidden = !custom();
      toast('Your profile photo is removed.');
      input.focus();
    } catch (e) {
      setBusy(false);
      status.textContent = messageOf(e);
    }
  });

  return h('div', { class: 'avatar-controls' }, change, input, remove, status);
}
