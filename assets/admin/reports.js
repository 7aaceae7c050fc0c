// Reports: the open ones to act on (dismiss, remove the content, ban its
// author) and the resolved ones with their outcome, who resolved them and
// when.

import { api, enc, qs } from '../api.js';
import { timeEl } from '../time.js';
import { toast } from '../toast.js';
import { append, emptyState, formError, h } from '../ui.js';
import { outcomeLabel } from './format.js';
import { confirmDialog, markReady, pagedList, refocus, segmented, tag, who } from './kit.js';

const KIND = { post: 'Post', comment: 'Comment', user: 'Account', message: 'Message' };
const REASON = { spam: 'Spam', harassment: 'Harassment', hate: 'Hate', violence: 'Violence', illegal: 'Illegal', other: 'Other' };
const OUTCOME_TONE = { dismissed: 'muted', removed: 'warn', banned: 'danger' };

/** Whether a report's content can be removed (only posts and comments). */
export function removable(r) {
  return r.kind === 'post' || r.kind === 'comment';
}

function contentBlock(r) {
  if (r.kind === 'user') return null;
  if (!r.content) return h('p', { class: 'report-content is-removed', testid: 'report-content', dataset: { removed: 'true' }, text: `This ${(KIND[r.kind] || 'content').toLowerCase()} was removed.` });
  const body = r.content.body ? r.content.body : '(no text)';
  const link = r.kind === 'post' ? h('a', { class: 'small', href: `#/post/${enc(r.subject_id)}`, text: 'Open the post' }) : null;
  return h(
    'div',
    { class: 'report-content', testid: 'report-content', dataset: { removed: 'false' } },
    h('p', { class: 'report-body', text: body }),
    h('p', { class: 'small muted' }, `${KIND[r.kind] || 'Content'} written `, timeEl(r.content.created_at), link ? ' · ' : null, link),
  );
}

function reportRow(r, { shared, onResolved }) {
  const err = formError('row-error');
  const li = h('li', {
    class: ['admin-row', 'report'],
    testid: 'report',
    dataset: { row: '1', reportId: r.id, status: r.status, outcome: r.outcome || '', author: r.author?.username || '', kind: r.kind },
  });
  const resolve = (action, label, cls, testid, ask) => {
    const b = h('button', { type: 'button', class: `btn btn-sm ${cls}`, testid, text: label });
    b.addEventListener('click', async () => {
      err.clear();
      if (ask && !(await confirmDialog(ask))) return;
      const all = li.querySelectorAll('.report-actions button');
      for (const x of all) x.disabled = true;
      const afterRemoval = refocus(li, b, { fallback: document.querySelector('[data-testid="reports-tab-resolved"]') });
      try {
        const done = await api.post(`/api/admin/reports/${enc(r.id)}/resolve`, { action });
        toast(`Report resolved: ${outcomeLabel(done?.outcome || (action === 'dismiss' ? 'dismissed' : action === 'remove' ? 'removed' : 'banned')).toLowerCase()}.`);
        li.remove();
        afterRemoval();
        onResolved(done);
        shared.refreshCounts();
      } catch (e) {
        for (const x of all) x.disabled = false;
        if (!shared.denied(e)) err.show(e);
      }
    });
    return b;
  };

  const authorName = r.author ? r.author.username : 'the author';
  const actions =
    r.status === 'open'
      ? h(
          'div',
          { class: 'admin-row-actions report-actions' },
          resolve('dismiss', 'Dismiss', 'btn-secondary', 'report-dismiss'),
          removable(r) && r.content
            ? resolve('remove', 'Remove content', 'btn-secondary', 'report-remove', {
                title: 'Remove this content?',
                body: `The ${(KIND[r.kind] || 'content').toLowerCase()} by ${authorName} is deleted for everyone. ${authorName} keeps their account.`,
                confirm: 'Remove',
              })
            : null,
          r.author
            ? resolve('ban', r.kind === 'user' ? 'Ban account' : 'Ban author', 'btn-danger-soft', 'report-ban', {
                title: `Ban ${authorName}?`,
                body:
                  r.kind === 'user'
                    ? `${authorName} is signed out everywhere and cannot sign in again until unbanned.`
                    : `${authorName} is signed out everywhere and cannot sign in again until unbanned; the reported ${(KIND[r.kind] || 'content').toLowerCase()} is removed.`,
                confirm: r.kind === 'user' ? 'Ban account' : 'Ban author',
              })
            : null,
        )
      : h(
          'p',
          { class: 'report-resolution small' },
          tag(outcomeLabel(r.outcome), OUTCOME_TONE[r.outcome] || 'muted', 'report-outcome'),
          ' by ',
          r.resolved_by ? h('strong', { text: r.resolved_by.username }) : h('span', { class: 'muted', text: 'a former admin' }),
          ' ',
          r.resolved_at ? timeEl(r.resolved_at) : null,
        );

  append(li, [
    h(
      'div',
      { class: 'report-head' },
      tag(KIND[r.kind] || r.kind, 'info'),
      tag(REASON[r.reason] || r.reason, 'warn', 'report-reason'),
      h('span', { class: 'spacer' }),
      h('span', { class: 'small muted' }, 'Reported ', timeEl(r.created_at)),
    ),
    h(
      'dl',
      { class: 'report-people' },
      h('div', {}, h('dt', { text: 'Reporter' }), h('dd', { testid: 'report-reporter' }, who(r.reporter))),
      h('div', {}, h('dt', { text: r.kind === 'user' ? 'Account' : 'Author' }), h('dd', { testid: 'report-author' }, who(r.author))),
    ),
    r.note ? h('blockquote', { class: 'admin-quote', testid: 'report-note', text: r.note }) : null,
    contentBlock(r),
    err.el,
    actions,
  ]);
  return li;
}

export function render(el, ctx, shared) {
  let status = 'open';
  const list = pagedList(ctx, {
    testid: 'report-list',
    shared,
    className: 'admin-list admin-cards',
    onReady: () => markReady(el),
    fetchPage: (cursor) => api.get(`/api/admin/reports${qs({ status, limit: 20, cursor })}`),
    row: (r) => reportRow(r, { shared, onResolved: () => list.checkEmpty() }),
    empty: () => (status === 'open' ? emptyState('No open reports.', 'Reports people send about posts, comments, messages and accounts land here.') : emptyState('No resolved reports yet.')),
  });
  const seg = segmented('Reports', [['open', 'Open'], ['resolved', 'Resolved']], status, (v) => {
    status = v;
    list.reload();
  }, 'reports-tab');
  el.append(h('div', { class: 'admin-toolbar' }, seg.el), list.el);
  list.reload();
}
