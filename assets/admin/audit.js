// The audit log: every admin action, newest first, a page at a time.

import { api, qs } from '../api.js';
import { timeEl } from '../time.js';
import { emptyState, h } from '../ui.js';
import { actionPhrase } from './format.js';
import { markReady, pagedList } from './kit.js';

function entryRow(e) {
  return h(
    'li',
    { class: 'admin-row audit', testid: 'audit-entry', dataset: { row: '1', action: e.action } },
    h(
      'p',
      { class: 'audit-line' },
      h('strong', { text: e.actor ? e.actor.username : 'a former admin' }),
      ` ${actionPhrase(e.action)} `,
      h('code', { class: 'audit-target', text: e.target }),
    ),
    h('p', { class: 'audit-meta small muted' }, h('code', { class: 'audit-action', text: e.action }), ' · ', timeEl(e.at)),
    e.detail ? h('p', { class: 'audit-detail small', text: e.detail }) : null,
  );
}

export function render(el, ctx, shared) {
  const list = pagedList(ctx, {
    testid: 'audit-list',
    shared,
    onReady: () => markReady(el),
    fetchPage: (cursor) => api.get(`/api/admin/audit${qs({ limit: 50, cursor })}`),
    row: entryRow,
    empty: () => emptyState('Nothing yet.', 'Bans, admin changes, resolved reports, approvals and job retries are recorded here.'),
  });
  el.append(list.el);
  list.reload();
}
