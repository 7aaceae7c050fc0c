// The cluster: a card per node (role, region, connections, replication
// lag, whether it answers, how old its heartbeat is) and the last hour of
// connections and replication lag per node; refreshed every 10 s.

import { api } from '../api.js';
import { formError, h, spinner } from '../ui.js';
import { lineChart } from './chart.js';
import { ageSecs, formatCount, formatDuration, formatMs } from './format.js';
import { markReady, refreshWhileVisible, tag } from './kit.js';
import { alignSeries } from './scale.js';

export const REFRESH_MS = 10_000;

/** A node's health from its answer: down (unreachable), stale (old heartbeat) or up. */
export function nodeHealth(node, now = Date.now()) {
  if (!node.reachable) return 'down';
  const age = ageSecs(node.heartbeat_at, now);
  if (age === null || age > 30) return 'stale';
  return 'up';
}

const HEALTH = { up: ['Reachable', 'ok'], stale: ['Heartbeat late', 'warn'], down: ['Unreachable', 'danger'] };

function nodeCard(n) {
  const health = nodeHealth(n);
  const [hl, ht] = HEALTH[health];
  const stat = (label, value, testid) => h('div', { class: 'node-stat' }, h('dt', { text: label }), h('dd', { testid, text: value }));
  return h(
    'article',
    { class: ['card', 'node-card', `is-${health}`], testid: 'node-card', dataset: { node: n.name, role: n.role, health } },
    h(
      'header',
      { class: 'node-head' },
      h('span', { class: ['node-dot', `is-${health}`], 'aria-hidden': 'true' }),
      h('h3', { class: 'node-name', text: n.name }),
      tag(n.role === 'primary' ? 'Primary' : 'Replica', n.role === 'primary' ? 'accent' : 'info', 'node-role'),
      n.this_node ? tag('This node', 'muted') : null,
    ),
    h('p', { class: 'small muted node-where' }, `${n.region || 'no region'} · ${n.http_addr || ''}`),
    h(
      'dl',
      { class: 'node-stats' },
      stat('Connections', formatCount(n.connections), 'node-connections'),
      stat('Replication lag', n.role === 'primary' ? '—' : formatMs(n.replication_lag_ms), 'node-lag'),
      stat('Heartbeat', `${formatDuration(ageSecs(n.heartbeat_at))} ago`, 'node-heartbeat'),
      stat('Status', hl, 'node-health'),
    ),
    h('p', { class: 'small muted' }, `Up since ${n.started_at ? new Date(n.started_at).toLocaleString() : '—'}`),
    h('span', { class: 'sr-only', text: `${n.name}: ${hl}` }),
    health !== 'up' ? h('span', { hidden: true }, tag(hl, ht)) : null,
  );
}

function toned(list, pick) {
  const out = alignSeries(list, pick);
  out.series.forEach((s, i) => {
    s.tone = list[i].tone;
  });
  return out;
}

export function render(el, ctx, shared) {
  const err = formError('admin-error');
  const loading = spinner('Loading the cluster…');
  const cards = h('div', { class: 'node-grid', testid: 'node-grid' });
  const conns = lineChart({ label: 'Connections per node', format: formatCount, integer: true, height: 180, testid: 'chart-connections', ctx });
  const lag = lineChart({ label: 'Replication lag per replica', format: formatMs, height: 180, testid: 'chart-lag', ctx });
  const lagWrap = h('article', { class: 'card chart-card' }, h('h3', { class: 'chart-title', text: 'Replication lag' }), lag.el);
  const charts = h(
    'div',
    { class: 'chart-grid', hidden: true },
    h('article', { class: 'card chart-card' }, h('h3', { class: 'chart-title', text: 'Connections' }), conns.el),
    lagWrap,
  );
  el.append(err.el, loading, cards, charts);

  const load = async () => {
    try {
      const r = await api.get('/api/admin/cluster');
      if (!ctx.alive) return;
      err.clear();
      loading.remove();
      const nodes = Array.isArray(r.nodes) ? r.nodes : [];
      cards.replaceChildren(...nodes.map(nodeCard));
      if (!nodes.length) cards.append(h('p', { class: 'muted', text: 'No nodes reported.' }));
      // Each node keeps its colour (its place in the list) in both charts.
      const withSeries = nodes.map((n, i) => ({ name: n.name, points: n.series || [], tone: i }));
      conns.set(toned(withSeries, (p) => p.connections));
      const replicas = withSeries.filter((_, i) => nodes[i].role !== 'primary');
      lagWrap.hidden = replicas.length === 0;
      if (replicas.length) lag.set(toned(replicas, (p) => p.replication_lag_ms));
      charts.hidden = !nodes.length;
    } catch (e) {
      if (!ctx.alive || shared.denied(e)) return;
      loading.remove();
      err.show(e);
    } finally {
      if (ctx.alive) markReady(el);
    }
  };
  refreshWhileVisible(ctx, load, REFRESH_MS);
  load();
}
