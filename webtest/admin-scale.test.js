// The console chart's arithmetic: domains, ticks, scales and paths.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { alignSeries, areaPath, extent, linear, linePath, nearestIndex, niceStep, relLabel, segments, summary, xTickIndexes, yAxis } from '../assets/admin/scale.js';

test('extent skips nulls and answers null for no numbers', () => {
  assert.deepEqual(extent([[1, null, 5], [3, undefined, -2]]), [-2, 5]);
  assert.equal(extent([[null, null], []]), null);
  assert.equal(extent([]), null);
});

test('nice steps are 1, 2, 2.5 or 5 times a power of ten', () => {
  assert.equal(niceStep(10, 4), 2.5);
  assert.equal(niceStep(100, 4), 25);
  assert.equal(niceStep(7, 4), 2);
  assert.equal(niceStep(0.9, 3), 0.5);
  assert.equal(niceStep(1000, 5), 200);
  assert.equal(niceStep(0, 4), 1);
});

test('the y axis starts at 0 and ends on a round tick above the largest value', () => {
  const a = yAxis([[3, 7.2, null, 9.1]], 4);
  assert.equal(a.min, 0);
  assert.equal(a.max, 10);
  assert.deepEqual(a.ticks, [0, 2.5, 5, 7.5, 10]);
  const b = yAxis([[0.12, 0.31]], 4);
  assert.deepEqual(b.ticks, [0, 0.1, 0.2, 0.3, 0.4], 'no floating point noise');
});

test('a flat, all-zero, empty or all-null series gets a usable axis', () => {
  assert.deepEqual(yAxis([[0, 0, 0]]).ticks.at(-1) > 0, true);
  assert.deepEqual(yAxis([]).min, 0);
  assert.ok(yAxis([]).max > 0);
  assert.ok(yAxis([[null, null]]).max > 0);
  const flat = yAxis([[5, 5, 5]], 4);
  assert.ok(flat.max >= 5 && flat.min === 0);
});

test('linear scales map the domain onto the range; a flat domain maps to the middle', () => {
  const y = linear(0, 10, 100, 0);
  assert.equal(y(0), 100);
  assert.equal(y(10), 0);
  assert.equal(y(2.5), 75);
  assert.equal(linear(3, 3, 0, 10)(3), 5);
});

test('segments break at missing values', () => {
  assert.deepEqual(segments([1, 2, null, 4, 5, 6, undefined, 8]), [[0, 1], [3, 4, 5], [7]]);
  assert.deepEqual(segments([]), []);
  assert.deepEqual(segments([null]), []);
});

test('paths: one move per segment, a lone point still drawn, no area under it', () => {
  const x = (i) => i * 10;
  const y = (v) => 100 - v;
  const d = linePath([1, 2, null, 4], x, y);
  assert.equal(d, 'M0 99L10 98M29 96h2');
  assert.equal((d.match(/M/g) || []).length, 2);
  assert.equal(linePath([null, null], x, y), '');
  const area = areaPath([1, 2, null, 4], x, y, 100);
  assert.equal(area, 'M0 99L10 98L10 100L0 100Z');
});

test('the nearest point to a pixel, clamped to the ends', () => {
  assert.equal(nearestIndex(0, 60, 40, 630), 0);
  assert.equal(nearestIndex(1000, 60, 40, 630), 59);
  assert.equal(nearestIndex(335, 60, 40, 630), 30);
  assert.equal(nearestIndex(12, 1, 0, 100), 0);
});

test('x ticks include the first and the last point', () => {
  assert.deepEqual(xTickIndexes(60, 4), [0, 15, 30, 44, 59]);
  assert.deepEqual(xTickIndexes(2, 4), [0, 1]);
  assert.deepEqual(xTickIndexes(1), [0]);
  assert.deepEqual(xTickIndexes(0), []);
});

test('summary: min, max and the latest number', () => {
  assert.deepEqual(summary([3, 1, 4, null]), { min: 1, max: 4, last: 4 });
  assert.deepEqual(summary([null]), { min: null, max: null, last: null });
});

test('series of several nodes line up on one time axis, with nulls where one has no point', () => {
  const t = (m) => `2025-01-01T00:0${m}:00Z`;
  const { times, series } = alignSeries(
    [
      { name: 'a', points: [{ at: t(0), c: 1 }, { at: t(1), c: 2 }, { at: t(2), c: 3 }] },
      { name: 'b', points: [{ at: t(1), c: 7 }, { at: t(2), c: null }] },
      { name: 'c' },
    ],
    (p) => p.c,
  );
  assert.deepEqual(times, [t(0), t(1), t(2)]);
  assert.deepEqual(series[0].values, [1, 2, 3]);
  assert.deepEqual(series[1].values, [null, 7, null]);
  assert.deepEqual(series[2].values, [null, null, null]);
});

test('x ticks say how long before the newest point', () => {
  const newest = '2025-01-01T12:00:00Z';
  assert.equal(relLabel(newest, newest), 'now');
  assert.equal(relLabel('2025-01-01T11:45:00Z', newest), '−15 min');
  assert.equal(relLabel('2025-01-01T11:01:00Z', newest), '−59 min');
  assert.equal(relLabel('2025-01-01T09:00:00Z', newest), '−3 h');
  assert.equal(relLabel('bad', newest), '');
});

test('counts get whole-number ticks', () => {
  assert.deepEqual(yAxis([[0, 1, 2]], 4, { integer: true }).ticks, [0, 1, 2]);
  assert.deepEqual(yAxis([[0, 0]], 2, { integer: true }).ticks, [0, 1]);
  assert.ok(yAxis([[0, 37]], 4, { integer: true }).ticks.every(Number.isInteger));
});
