// The overview: requests per second, p99 latency, errors per minute and
// the job queue's depth now, each with its last hour; refreshed every 10 s
// while the page is shown and the browser tab visible.

import { api } from '../api.js';
import { formError, h, spinner } from '../ui.js';
import { lineChart } from './chart.js';
import { formatCount, formatMs, formatRate } from './format.js';
import { markReady, refreshWhileVisible } from './kit.js';

export const REFRESH_MS = 10_000;

const STATS = [
  { key: 'requests_per_sec', series: 'requests_per_sec', label: 'Requests', unit: 'per second', format: formatRate, chartLabel: 'Requests per second' },
  { key: 'p99_ms', series: 'p99_ms', label: 'Latency p99', unit: '99th percentile', format: formatMs, chartLabel: 'p99 latency' },
  { key: 'errors_per_min', series: 'errors', label: 'Errors', unit: 'per minute', format: formatRate, chartLabel: 'Errors per minute' },
  { key: 'queue_depth', series: 'queue_depth', label: 'Queue depth', unit: 'jobs waiting', format: formatCount, chartLabel: 'Jobs waiting', integer: true },
];

export function render(el, ctx, shared) {
  const err = formError('admin-error');
  const updated = h('p', { class: 'admin-updated muted small', 'aria-live': 'off' });
  const nodes = h('span', { class: 'pill', testid: 'overview-nodes', hidden: true });
  const refresh = h('button', { type: 'button', class: 'btn btn-secondary btn-sm', testid: 'overview-refresh', text: 'Refresh' });
  const cards = STATS.map((st) => {
    const value = h('p', { class: 'stat-value', testid: `stat-${st.key}`, text: '—' });
    const chart = lineChart({ label: st.chartLabel, format: st.format, integer: !!st.integer, height: 96, compact: true, testid: `chart-${st.key}`, ctx });
    const card = h(
      'article',
      { class: 'card stat-card', testid: 'stat-card', dataset: { stat: st.key } },
      h('h3', { class: 'stat-label' }, st.label, h('span', { class: 'stat-unit muted', text: ` ${st.unit}` })),
      value,
      chart.el,
    );
    return { st, value, chart, card };
  });
  const grid = h('div', { class: 'stat-grid', hidden: true }, cards.map((c) => c.card));
  const loading = spinner('Loading the overview…');

  el.append(
    h('div', { class: 'admin-toolbar' }, h('h2', { class: 'admin-h2', text: 'Last hour' }), nodes, h('span', { class: 'spacer' }), updated, refresh),
    err.el,
    loading,
    grid,
  );

  const load = async () => {
    try {
      const o = await api.get('/api/admin/overview');
      if (!ctx.alive) return;
      err.clear();
      loading.remove();
      grid.hidden = false;
      const series = Array.isArray(o.series) ? o.series : [];
      const times = series.map((p) => p.at);
      for (const c of cards) {
        const cur = o.current ? o.current[c.st.key] : null;
        c.value.textContent = c.st.format(cur);
        c.card.dataset.empty = String(cur === null || cur === undefined);
        c.chart.set({ times, series: [{ name: c.st.chartLabel, values: series.map((p) => p[c.st.series] ?? null) }] });
      }
      if (typeof o.nodes === 'number') {
        nodes.hidden = false;
        nodes.textContent = `${o.nodes} ${o.nodes === 1 ? 'node' : 'nodes'}`;
      }
      updated.textContent = `Updated ${new Date(o.now || Date.now()).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })}`;
    } catch (e) {
      if (!ctx.alive || shared.denied(e)) return;
      loading.remove();
      err.show(e);
    } finally {
      if (ctx.alive) markReady(el);
    }
  };

  const loop = refreshWhileVisible(ctx, load, REFRESH_MS);
  refresh.addEventListener('click', async () => {
    refresh.disabled = true;
    await load();
    refresh.disabled = false;
    loop.reset();
  });
  load();
}
