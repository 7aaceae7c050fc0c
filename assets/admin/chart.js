// A small line chart in SVG, with no dependencies: y axis with a few
// round ticks, clock times along x, a line (and a soft area) per series
// with gaps where a value is missing. Pointer hover or the arrow keys (the
// chart is focusable) show one point's values in a readout; screen readers
// get a summary (role="img" + aria-label) and a visually hidden table of
// every value.

import { clockTime } from '../time.js';
import { h, replace } from '../ui.js';
import { areaPath, linear, linePath, nearestIndex, relLabel, summary, xTickIndexes, yAxis } from './scale.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  }
  for (const c of children) if (c) el.append(c);
  return el;
}

const txt = (attrs, text) => {
  const t = s('text', attrs);
  t.textContent = text;
  return t;
};

/**
 * Makes a chart. `opts`: label (what it shows, e.g. "Requests per
 * second"), format (a value -> text), height (px), compact (a smaller
 * chart for a stat card), integer (counts: whole-number ticks), testid, ctx (a view context: its cleanup stops
 * the resize observer). Returns { el, set(data) } where data is
 * { times: [iso], series: [{ name, values: [number|null], tone? }] }
 * (tone: the colour's index, so one node keeps its colour across charts).
 */
export function lineChart(opts) {
  const { label, format = String, height = 160, compact = false, integer = false, testid, ctx } = opts;
    const readout = h('p', { class: 'chart-readout', 'aria-live': 'polite', testid: testid ? `${testid}-readout` : null });
  const svg = s('svg', { role: 'img', class: 'chart-svg', tabindex: '0' });
  const legend = h('ul', { class: 'chart-legend', hidden: true });
  const table = h('table', {});
  // A table is sized by its content whatever its width says: it hides inside a clipped box.
  const el = h('figure', { class: ['admin-chart', compact ? 'is-compact' : null], testid }, svg, readout, legend, h('div', { class: 'sr-only' }, table));
  let data = { times: [], series: [] };
  let active = null; // index shown in the readout, or null
  let geom = null;
  let width = 0;

  const render = () => {
    width = Math.max(120, Math.round(el.clientWidth || 480));
    const n = data.times.length;
    const margin = compact ? { top: 6, right: 6, bottom: 18, left: 38 } : { top: 10, right: 10, bottom: 22, left: 46 };
    const axis = yAxis(data.series.map((x) => x.values), compact ? 2 : 4, { integer });
    const hasData = data.series.some((ser) => ser.values.some((v) => typeof v === 'number'));
    const left = margin.left;
    const right = width - margin.right;
    const top = margin.top;
    const bottom = height - margin.bottom;
    const x = n > 1 ? linear(0, n - 1, left, right) : () => (left + right) / 2;
    const y = linear(axis.min, axis.max, bottom, top);
    geom = { n, x, y, left, right, top, bottom };
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const grid = s('g', { class: 'chart-gridlines' });
    for (const t of axis.ticks) {
      const py = Math.round(y(t)) + 0.5;
      grid.append(s('line', { x1: left, x2: right, y1: py, y2: py, class: t === axis.min ? 'chart-baseline' : null }));
      // Without data the scale means nothing: lines only.
      if (hasData) grid.append(txt({ x: left - 6, y: py, class: 'chart-tick', 'text-anchor': 'end', 'dominant-baseline': 'middle' }, format(t)));
    }
    for (const i of xTickIndexes(n, compact || width < 300 ? 1 : width < 480 ? 2 : 4)) {
      const anchor = i === 0 ? 'start' : i === n - 1 ? 'end' : 'middle';
      grid.append(txt({ x: x(i), y: height - 4, class: 'chart-tick', 'text-anchor': n === 1 ? 'middle' : anchor }, relLabel(data.times[i], data.times[n - 1])));
    }
    const lines = s('g', { class: 'chart-lines' });
    data.series.forEach((ser, k) => {
      const tone = `chart-s${(ser.tone ?? k) % 6}`;
      if (data.series.length === 1) {
        const area = areaPath(ser.values, x, y, bottom);
        if (area) lines.append(s('path', { d: area, class: `chart-area ${tone}` }));
      }
      const d = linePath(ser.values, x, y);
      if (d) lines.append(s('path', { d, class: `chart-line ${tone}` }));
    });
    const marker = s('g', { class: 'chart-marker' });
    const children = [grid, lines, marker];
    if (!hasData) {
      children.push(txt({ x: (left + right) / 2, y: (top + bottom) / 2, class: 'chart-empty', 'text-anchor': 'middle', 'dominant-baseline': 'middle' }, n ? 'No data in this hour' : 'No data yet'));
    }
    svg.replaceChildren(...children);
    drawMarker();
  };

  const valuesAt = (i) => data.series.map((ser) => ({ name: ser.name, v: ser.values[i] }));

  function drawMarker() {
    const marker = svg.querySelector('.chart-marker');
    if (!marker || !geom) return;
    marker.replaceChildren();
    if (active === null || active >= geom.n) {
      readout.textContent = latestText();
      return;
    }
    const px = geom.x(active);
    marker.append(s('line', { x1: px, x2: px, y1: geom.top, y2: geom.bottom, class: 'chart-rule' }));
    data.series.forEach((ser, k) => {
      const v = ser.values[active];
      if (typeof v === 'number') marker.append(s('circle', { cx: px, cy: geom.y(v), r: 3.5, class: `chart-dot chart-s${(ser.tone ?? k) % 6}` }));
    });
    const vals = valuesAt(active)
      .map(({ name, v }) => (data.series.length > 1 ? `${name}: ${v === null || v === undefined ? 'no data' : format(v)}` : v === null || v === undefined ? 'no data' : format(v)))
      .join(' · ');
    readout.textContent = `${clockTime(data.times[active])} — ${vals}`;
  }

  function latestText() {
    if (!data.times.length) return '';
    if (data.series.length !== 1) return `${data.times.length} points; hover or use the arrow keys to read them`;
    const sm = summary(data.series[0].values);
    if (sm.max === null) return 'No data in this hour';
    return `min ${format(sm.min)} · max ${format(sm.max)}`;
  }

  const describe = () => {
    const n = data.times.length;
    if (!n) return `${label}: no data yet`;
    const parts = data.series.map((ser) => {
      const sm = summary(ser.values);
      if (sm.max === null) return `${ser.name}: no data`;
      return `${data.series.length > 1 ? `${ser.name}: ` : ''}latest ${format(sm.last)}, min ${format(sm.min)}, max ${format(sm.max)}`;
    });
    return `${label}, ${clockTime(data.times[0])} to ${clockTime(data.times[n - 1])}. ${parts.join('; ')}.`;
  };

  const fillTable = () => {
    const head = h('tr', {}, h('th', { scope: 'col', text: 'Time' }), data.series.map((ser) => h('th', { scope: 'col', text: ser.name })));
    const rows = data.times.map((t, i) =>
      h('tr', {}, h('th', { scope: 'row', text: clockTime(t) }), data.series.map((ser) => h('td', { text: ser.values[i] === null || ser.values[i] === undefined ? 'no data' : format(ser.values[i]) }))),
    );
    replace(table, h('caption', { text: label }), h('thead', {}, head), h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { text: 'No data yet' }))));
  };

  const fillLegend = () => {
    legend.hidden = data.series.length < 2;
    replace(legend, data.series.map((ser, k) => h('li', {}, h('span', { class: `chart-key chart-s${(ser.tone ?? k) % 6}`, 'aria-hidden': 'true' }), h('span', { text: ser.name }))));
  };

  const show = (i) => {
    active = i;
    drawMarker();
  };

  svg.addEventListener('pointermove', (e) => {
    if (!geom?.n) return;
    const r = svg.getBoundingClientRect();
    const px = ((e.clientX - r.left) / r.width) * width;
    show(nearestIndex(px, geom.n, geom.left, geom.right));
  });
  svg.addEventListener('pointerleave', () => {
    if (document.activeElement !== svg) show(null);
  });
  svg.addEventListener('focus', () => {
    if (geom?.n && active === null) show(geom.n - 1);
  });
  svg.addEventListener('blur', () => show(null));
  svg.addEventListener('keydown', (e) => {
    if (!geom?.n) return;
    const last = geom.n - 1;
    const cur = active === null ? last : active;
    const step = e.shiftKey ? 10 : 1;
    let next = null;
    if (e.key === 'ArrowLeft') next = Math.max(0, cur - step);
    else if (e.key === 'ArrowRight') next = Math.min(last, cur + step);
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = last;
    if (next === null) return;
    e.preventDefault();
    show(next);
  });

  if (typeof ResizeObserver !== 'undefined') {
    let lastW = 0;
    const ro = new ResizeObserver(() => {
      const w = Math.round(el.clientWidth);
      if (w && w !== lastW) {
        lastW = w;
        render();
      }
    });
    ro.observe(el);
    if (ctx) ctx.cleanup(() => ro.disconnect());
  }

  return {
    el,
    set(next) {
      data = { times: next.times || [], series: next.series || [] };
      if (active !== null && active >= data.times.length) active = null;
      svg.setAttribute('aria-label', describe());
      fillTable();
      fillLegend();
      render();
    },
  };
}
