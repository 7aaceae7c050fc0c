// Settings › Notifications: push on this device (the browser's permission
// is asked only after the person clicks, never on arrival), and which
// kinds of notification arrive where: in the app, as a push, in the email
// digest. Each checkbox saves on its own; a failed save puts it back.
// A server without these endpoints yet shows the choices disabled.

import { api } from '../api.js';
import { disablePush, enablePush, pushState } from '../pwa.js';
import { toast } from '../toast.js';
import { formError, h, messageOf, replace, spinner, uid } from '../ui.js';
import { card, whileBusy } from './kit.js';

export const KINDS = [
  { key: 'friend_request', label: 'Friend requests', what: 'Someone asks to be your friend.' },
  { key: 'comment', label: 'Comments on your posts', what: 'Someone comments on a post of yours.' },
  { key: 'like', label: 'Likes', what: 'Someone likes your post or comment.' },
  { key: 'mention', label: 'Mentions', what: 'Someone names you with @ in a post, a comment or a chat.' },
  { key: 'message', label: 'Chat messages', what: 'A new message in one of your chats.' },
];

export const CHANNELS = [
  { key: 'app', label: 'In the app', what: 'Counted on the bell and listed under Notifications.' },
  { key: 'push', label: 'Push', what: 'Shown by the devices where you turned notifications on, even when kith is closed.' },
  { key: 'email', label: 'Email digest', what: 'Gathered into an occasional email while you are away.' },
];

export function render(el, ctx, shared) {
  el.append(pushCard(ctx), preferencesCard(ctx, shared));
}

// ---- push on this device ----------------------------------------------------

function pushCard(ctx) {
  const err = formError('push-error');
  const box = h('div', { class: 'push-state', testid: 'push-state', 'aria-busy': 'true' }, spinner('Checking this device…'));
  let serverHasPush = null;

  const callout = (testid, title, ...lines) => h('div', { class: 'callout', testid },
    h('p', { class: 'callout-title', text: title }),
    lines.map((t) => h('p', { text: t })));

  const draw = (state) => {
    box.removeAttribute('aria-busy');
    box.dataset.state = state;
    if (state === 'unsupported') {
      replace(box, callout('push-unsupported', 'This browser cannot show notifications from kith',
        window.isSecureContext === false
          ? 'Notifications need kith to be opened at a secure (https) address.'
          : 'On an iPhone or iPad, add kith to your Home Screen first (Share, then Add to Home Screen) and open it from there. Elsewhere, a current Firefox, Chrome, Edge or Safari can.'));
      return;
    }
    if (state === 'denied') {
      replace(box, callout('push-denied', 'Your browser blocks notifications from kith',
        'You (or your browser) said no when asked. To undo that, open this site\'s settings from the icon beside the address bar, allow Notifications, then reload this page.'));
      return;
    }
    if (serverHasPush === false && state !== 'on') {
      replace(box, callout('push-no-server', 'This server does not send push notifications',
        'You still see everything under Notifications in the app.'));
      return;
    }
    if (state === 'on') {
      const off = h('button', { type: 'button', class: 'btn btn-secondary', testid: 'push-disable', text: 'Turn off on this device' });
      off.addEventListener('click', () => change(off, disablePush, 'Notifications are off on this device.'));
      replace(box,
        h('p', { class: 'push-line' }, h('span', { class: 'pill pill-success', text: 'On' }),
          h('span', { text: 'This device shows kith notifications, even when kith is closed.' })),
        h('div', { class: 'settings-actions' }, off));
      return;
    }
    const on = h('button', { type: 'button', class: 'btn btn-primary', testid: 'push-enable', text: 'Turn on notifications on this device' });
    on.addEventListener('click', () => change(on, enablePush, 'Notifications are on for this device.'));
    replace(box,
      h('div', { class: 'settings-actions' }, on),
      h('p', { class: 'hint push-hint', text: 'Nothing is asked until you click. Then your browser asks whether kith may show notifications; you can turn them off here at any time.' }));
  };

  async function change(button, fn, done) {
    err.clear();
    try {
      const state = await whileBusy(button, fn);
      if (!ctx.alive) return;
      draw(state);
      if (state === 'on' || state === 'off') toast(done);
    } catch (e) {
      if (!ctx.alive) return;
      if (e.status === 404) {
        serverHasPush = false;
        draw(await pushState());
        return;
      }
      err.show(e.name === 'AbortError' || e.name === 'NotAllowedError'
        ? 'The browser could not set up notifications here. Try again, or try another browser.'
        : e);
      draw(await pushState());
    }
  }

  const refresh = async () => {
    const state = await pushState();
    if (!ctx.alive) return;
    // Whether the server sends push at all, before offering a question the
    // browser would ask for nothing.
    if (serverHasPush === null && state !== 'unsupported') {
      try {
        await api.get('/api/push/key');
        serverHasPush = true;
      } catch (e) {
        serverHasPush = e.status === 404 ? false : null;
      }
      if (!ctx.alive) return;
    }
    draw(state);
  };
  refresh();
  // The permission may change in the browser's settings while this page is
  // open elsewhere: look again when the person comes back to it.
  ctx.listen(document, 'visibilitychange', () => {
    if (document.visibilityState === 'visible') refresh();
  });

  return card({
    title: 'Notifications on this device',
    description: 'Push notifications reach this phone or computer even when kith is closed. Each device is turned on separately.',
    testid: 'settings-push-card',
  }, box, err.el);
}

// ---- what arrives where ------------------------------------------------------

function preferencesCard(ctx, shared) {
  const err = formError('prefs-error');
  const note = h('div', { class: 'prefs-note' });
  const boxes = {};
  /** Saves in flight: a reply is applied only when it is the last one. */
  let pending = 0;

  const head = h('tr', {},
    h('th', { scope: 'col', class: 'prefs-kind-head' }, h('span', { class: 'sr-only', text: 'Kind of notification' })),
    CHANNELS.map((c) => h('th', { scope: 'col', class: 'prefs-channel', id: `prefs-col-${c.key}`, text: c.label })));
  const rows = KINDS.map((k) => {
    const rowId = `prefs-row-${k.key}`;
    return h('tr', { testid: `prefs-row-${k.key}` },
      h('th', { scope: 'row', class: 'prefs-kind' },
        h('span', { class: 'prefs-kind-label', id: rowId, text: k.label }),
        h('span', { class: 'prefs-kind-what', text: k.what })),
      CHANNELS.map((c) => {
        const id = uid('pref');
        const input = h('input', {
          id,
          type: 'checkbox',
          testid: `pref-${k.key}-${c.key}`,
          disabled: true,
          'aria-labelledby': `${rowId} prefs-col-${c.key}`,
          dataset: { kind: k.key, channel: c.key },
        });
        input.addEventListener('change', () => save(input, k, c));
        boxes[`${k.key}.${c.key}`] = input;
        return h('td', { class: 'prefs-cell' }, input);
      }));
  });
  const table = h('table', { class: 'prefs-grid', testid: 'notification-prefs', 'aria-busy': 'true' },
    h('caption', { class: 'sr-only', text: 'Which notifications arrive where' }),
    h('thead', {}, head),
    h('tbody', {}, rows));
  const legend = h('dl', { class: 'prefs-legend' },
    CHANNELS.map((c) => h('div', {}, h('dt', { text: c.label }), h('dd', { text: c.what }))));

  const apply = (prefs) => {
    const kinds = prefs?.kinds || {};
    for (const k of KINDS) {
      for (const c of CHANNELS) {
        const box = boxes[`${k.key}.${c.key}`];
        box.checked = !!kinds[k.key]?.[c.key];
        box.disabled = false;
      }
    }
  };

  async function save(input, kind, channel) {
    const value = input.checked;
    err.clear();
    input.disabled = true;
    pending += 1;
    try {
      const res = await api.put('/api/notifications/preferences', { kinds: { [kind.key]: { [channel.key]: value } } });
      pending -= 1;
      if (!ctx.alive) return;
      input.disabled = false;
      // An older reply must not undo a box changed since.
      if (pending === 0 && res?.kinds) apply(res);
      toast(`${kind.label}: ${channel.label.toLowerCase()} ${value ? 'on' : 'off'}.`);
    } catch (e) {
      pending -= 1;
      if (!ctx.alive) return;
      input.checked = !value;
      input.disabled = false;
      toast(`Not saved: ${messageOf(e)}`, 'error');
    }
  }

  const unavailable = () => {
    table.classList.add('prefs-off');
    replace(note, h('p', { class: 'callout', testid: 'prefs-unavailable', text: 'This server does not offer these choices yet. Until it does, every notification shows in the app.' }));
  };

  const load = async () => {
    err.clear();
    table.setAttribute('aria-busy', 'true');
    try {
      const prefs = await api.get('/api/notifications/preferences');
      if (!ctx.alive) return;
      apply(prefs);
      replace(note);
      table.classList.remove('prefs-off');
    } catch (e) {
      if (!ctx.alive) return;
      if (e.status === 404) {
        unavailable();
      } else {
        const retry = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', testid: 'prefs-retry', text: 'Try again' });
        retry.addEventListener('click', load);
        err.show(e);
        replace(note, h('div', { class: 'settings-actions' }, retry));
      }
    } finally {
      table.removeAttribute('aria-busy');
    }
  };
  load();
  ctx.onReconnect(() => {
    if (!err.el.hidden) load();
  });

  const mailNote = !shared.config.mail
    ? 'This server does not send mail, so no digest arrives.'
    : !shared.me?.email
      ? 'A digest needs a verified address: add one under Email.'
      : null;

  return card({
    title: 'What you hear about',
    description: 'Choose, for each kind of notification, where it reaches you. Changes save at once.',
    testid: 'settings-prefs-card',
  },
  note,
  err.el,
  h('div', { class: 'prefs-scroll' }, table),
  legend,
  mailNote ? h('p', { class: 'hint', testid: 'prefs-mail-note' }, mailNote,
    shared.config.mail ? [' ', h('a', { href: '#/settings/email', text: 'Go to Email' })] : null) : null);
}
