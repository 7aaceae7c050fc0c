// The job queue: jobs by status and kind, with progress for the running
// ones and the last error; retry (failed, dead, cancelled) and cancel
// (queued, running, failed). While a shown job is queued or running the
// list refreshes itself.

import { api, enc, qs } from '../api.js';
import { timeEl } from '../time.js';
import { toast } from '../toast.js';
import { append, emptyState, formError, h, uid } from '../ui.js';
import { jobActions, percent } from './format.js';
import { markReady, pagedList, refocus, refreshWhileVisible, tag } from './kit.js';

export const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'dead', 'cancelled'];
const KNOWN_KINDS = ['video', 'image', 'mail'];
const TONE = { queued: 'muted', running: 'info', succeeded: 'ok', failed: 'warn', dead: 'danger', cancelled: 'muted' };
export const JOBS_REFRESH_MS = 3_000;

function jobRow(j, shared) {
  const err = formError('row-error');
  const li = h('li', { class: 'admin-row job', testid: 'job', dataset: { row: '1', jobId: j.id, status: j.status, kind: j.kind } });
  const can = jobActions(j.status);
  const act = (label, cls, testid, path) => {
    const b = h('button', { type: 'button', class: `btn btn-sm ${cls}`, testid, text: label });
    b.addEventListener('click', async () => {
      err.clear();
      b.disabled = true;
      try {
        const next = await api.post(`/api/admin/jobs/${enc(j.id)}/${path}`);
        const fresh = jobRow(next?.id ? next : { ...j, status: path === 'retry' ? 'queued' : 'cancelled' }, shared);
        li.replaceWith(fresh);
        refocus(li, b, { fresh });
        toast(path === 'retry' ? 'Job queued again.' : 'Job cancelled.');
      } catch (e) {
        b.disabled = false;
        if (!shared.denied(e)) err.show(e);
      }
    });
    return b;
  };
  const pct = percent(j.progress);
  const progressId = uid('prog');
  append(li, [
    h(
      'div',
      { class: 'admin-row-main' },
      h(
        'div',
        { class: 'admin-row-id' },
        h('div', { class: 'admin-row-title' }, h('strong', { class: 'job-kind', text: j.kind }), tag(j.status, TONE[j.status] || 'muted', 'job-status'), h('code', { class: 'job-id muted small', text: j.id })),
        h(
          'p',
          { class: 'admin-row-meta muted small' },
          `attempt ${j.attempts} of ${j.max_attempts} · priority ${j.priority} · `,
          j.status === 'queued' && j.run_at ? h('span', {}, 'runs ', timeEl(j.run_at)) : h('span', {}, 'updated ', timeEl(j.updated_at)),
        ),
      ),
      can.retry || can.cancel
        ? h('div', { class: 'admin-row-actions' }, can.retry ? act('Retry', 'btn-secondary', 'retry-job', 'retry') : null, can.cancel ? act('Cancel', 'btn-ghost', 'cancel-job', 'cancel') : null)
        : null,
    ),
    j.status === 'running'
      ? h(
          'div',
          { class: 'job-progress' },
          h('progress', { class: 'progress', id: progressId, max: '100', value: String(pct), testid: 'job-progress', 'aria-label': `${j.kind} job progress` }),
          h('span', { class: 'small muted job-pct', text: `${pct}%` }),
        )
      : null,
    j.last_error ? h('pre', { class: 'job-error', testid: 'job-error' }, h('span', { class: 'sr-only', text: 'Last error: ' }), j.last_error) : null,
    err.el,
  ]);
  return li;
}

export function render(el, ctx, shared) {
  let status = '';
  let kind = '';
  const kinds = new Set(KNOWN_KINDS);
  const statusId = uid('jst');
  const kindId = uid('jkd');
  const statusSel = h('select', { id: statusId, class: 'select', testid: 'job-status-filter' }, h('option', { value: '', text: 'Any status' }), STATUSES.map((s) => h('option', { value: s, text: s })));
  const kindSel = h('select', { id: kindId, class: 'select', testid: 'job-kind-filter' });
  const fillKinds = () => {
    const cur = kindSel.value || kind;
    kindSel.replaceChildren(h('option', { value: '', text: 'Any kind' }), [...kinds].sort().map((k) => h('option', { value: k, text: k, selected: k === cur })));
  };
  fillKinds();
  const auto = h('p', { class: 'small muted admin-auto', testid: 'jobs-auto', hidden: true, text: 'Refreshing while jobs run' });
  const list = pagedList(ctx, {
    testid: 'job-list',
    shared,
    onReady: () => markReady(el),
    fetchPage: async (cursor) => {
      const page = await api.get(`/api/admin/jobs${qs({ status, kind, limit: 30, cursor })}`);
      let added = false;
      for (const j of page.items || []) {
        if (j.kind && !kinds.has(j.kind)) {
          kinds.add(j.kind);
          added = true;
        }
      }
      if (added) fillKinds();
      return page;
    },
    row: (j) => jobRow(j, shared),
    empty: () => emptyState(status || kind ? 'No jobs match.' : 'No jobs.', 'Video and image processing and outgoing mail run as jobs.'),
  });
  const active = () => !!list.list.querySelector('[data-status="running"], [data-status="queued"]');
  statusSel.addEventListener('change', () => {
    status = statusSel.value;
    list.reload();
  });
  kindSel.addEventListener('change', () => {
    kind = kindSel.value;
    list.reload();
  });
  refreshWhileVisible(ctx, async () => {
    const on = active();
    auto.hidden = !on;
    if (on) await list.refresh();
    auto.hidden = !active();
  }, JOBS_REFRESH_MS);

  el.append(
    h(
      'div',
      { class: 'admin-toolbar' },
      h('div', { class: 'field field-inline' }, h('label', { for: statusId, text: 'Status' }), statusSel),
      h('div', { class: 'field field-inline' }, h('label', { for: kindId, text: 'Kind' }), kindSel),
      h('span', { class: 'spacer' }),
      auto,
    ),
    list.el,
  );
  list.reload();
}
