// Settings › Devices: every browser and app signed in to your account,
// with its device, coarse address, when it signed in and was last seen;
// this device marked. Sign one out, or every other one at once.

import { api, enc } from '../api.js';
import { icon } from '../icons.js';
import { timeEl } from '../time.js';
import { toast } from '../toast.js';
import { emptyState, formError, h, replace, spinner } from '../ui.js';
import { card, plural, whileBusy } from './kit.js';

/** Sessions in the order shown: this device first, then the latest seen. */
export function orderSessions(list) {
  return [...list].sort((a, b) => (b.current - a.current) || String(b.last_seen_at).localeCompare(String(a.last_seen_at)));
}

export function render(el, ctx) {
  const err = formError('sessions-error');
  const list = h('ul', { class: 'session-list', testid: 'session-list', 'aria-busy': 'true' }, h('li', {}, spinner('Loading your devices…')));
  const others = h('button', { type: 'button', class: 'btn btn-secondary', testid: 'sessions-end-others', hidden: true, text: 'Sign out everywhere else' });
  const count = h('span', { class: 'section-count' });
  let sessions = [];

  const row = (s) => {
    const end = s.current
      ? null
      : h('button', { type: 'button', class: 'btn btn-ghost btn-sm', testid: 'session-end', text: 'Sign out', 'aria-label': `Sign out ${s.device}` });
    const li = h('li', { class: ['session', s.current ? 'is-current' : null], testid: 'session', dataset: { sessionId: s.id, current: String(!!s.current), kind: s.kind } },
      h('span', { class: 'session-icon', 'aria-hidden': 'true' }, icon(s.kind === 'token' ? 'key' : 'devices')),
      h('div', { class: 'session-main' },
        h('p', { class: 'session-device' },
          h('span', { class: 'session-name', text: s.device }),
          s.current ? h('span', { class: 'pill pill-accent', testid: 'session-current', text: 'This device' }) : null,
          s.kind === 'token' ? h('span', { class: 'pill', text: 'App token' }) : null),
        h('p', { class: 'session-meta' },
          s.address ? h('span', { text: `Near ${s.address}` }) : null,
          h('span', {}, 'Signed in ', timeEl(s.created_at)),
          h('span', {}, 'Last active ', timeEl(s.last_seen_at)))),
      end);
    if (end) {
      end.addEventListener('click', async () => {
        err.clear();
        try {
          await whileBusy(end, () => api.del(`/api/me/sessions/${enc(s.id)}`));
          sessions = sessions.filter((x) => x.id !== s.id);
          draw();
          toast(`${s.device} is signed out.`);
          list.focus();
        } catch (e) {
          if (e.status === 404) {
            sessions = sessions.filter((x) => x.id !== s.id);
            draw();
            return;
          }
          err.show(e);
        }
      });
    }
    return li;
  };

  const draw = () => {
    list.removeAttribute('aria-busy');
    const shown = orderSessions(sessions);
    if (!shown.length) replace(list, h('li', {}, emptyState('No devices are signed in.')));
    else replace(list, shown.map(row));
    const n = sessions.filter((s) => !s.current).length;
    others.hidden = n === 0;
    others.textContent = n === 1 ? 'Sign out the other device' : 'Sign out everywhere else';
    count.textContent = plural(sessions.length, 'device', 'devices');
  };

  others.addEventListener('click', async () => {
    err.clear();
    const targets = sessions.filter((s) => !s.current);
    if (!window.confirm(`Sign out ${plural(targets.length, 'other device', 'other devices')}? They will need your password to sign in again.`)) return;
    try {
      await whileBusy(others, async () => {
        for (const s of targets) {
          await api.del(`/api/me/sessions/${enc(s.id)}`).catch((e) => {
            if (e.status !== 404) throw e;
          });
          sessions = sessions.filter((x) => x.id !== s.id);
        }
      });
      toast('Every other device is signed out.');
    } catch (e) {
      err.show(e);
    }
    if (ctx.alive) draw();
  });

  list.tabIndex = -1;
  el.append(card({
    title: 'Where you are signed in',
    description: 'Browsers and apps with access to your account. Addresses are approximate. Sign out any you do not recognise, then change your password.',
    testid: 'settings-sessions',
  }, h('div', { class: 'settings-toolbar' }, count, others), list, err.el));

  api.get('/api/me/sessions').then((res) => {
    if (!ctx.alive) return;
    sessions = res.sessions || [];
    draw();
  }, (e) => {
    if (!ctx.alive) return;
    replace(list);
    err.show(e);
  });
}
