// The chart's arithmetic: domains, "nice" ticks, scales and paths, with
// gaps where a value is missing. Pure functions, tested on their own.

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

/** [min, max] over every number in `lists` (arrays with nulls); null if none. */
export function extent(lists) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const list of lists) {
    for (const v of list || []) {
      if (!isNum(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo === Infinity ? null : [lo, hi];
}

/** A step of 1, 2, 2.5 or 5 times a power of ten, near range/count. */
export function niceStep(range, count) {
  if (!(range > 0) || !(count > 0)) return 1;
  const raw = range / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const f = raw / pow;
  const nice = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
  return nice * pow;
}

/**
 * The y domain and ticks for values in `lists`: from 0 (these are rates,
 * counts and durations) up to a round number above the largest value,
 * about `count` ticks. An empty or all-zero series gets 0..1. With
 * `integer` (counts), steps are whole numbers.
 */
export function yAxis(lists, count = 4, { integer = false } = {}) {
  const ext = extent(lists);
  let lo = ext ? Math.min(0, ext[0]) : 0;
  let hi = ext ? Math.max(0, ext[1]) : 1;
  if (hi === lo) hi = lo + 1;
  const step = integer ? Math.max(1, Math.floor(niceStep(hi - lo, count))) : niceStep(hi - lo, count);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(round(v, step));
  return { min: lo, max: hi, step, ticks };
}

// Floating point: 0.30000000000000004 -> 0.3, to the step's precision.
function round(v, step) {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(10, digits)));
}

/** A linear map of [d0, d1] onto [r0, r1] (a flat domain maps to the middle). */
export function linear(d0, d1, r0, r1) {
  if (d1 === d0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** Runs of consecutive indexes whose value is a number: [[0,1,2],[5,6]]. */
export function segments(values) {
  const out = [];
  let run = null;
  values.forEach((v, i) => {
    if (isNum(v)) {
      if (!run) {
        run = [];
        out.push(run);
      }
      run.push(i);
    } else {
      run = null;
    }
  });
  return out;
}

const fmt = (n) => String(Math.round(n * 10) / 10);

/**
 * SVG path data for a line through `values` (x from `x(i)`, y from
 * `y(v)`), broken where values are missing; a lone point becomes a dot-like
 * short stroke so it still shows.
 */
export function linePath(values, x, y) {
  return segments(values)
    .map((run) => {
      if (run.length === 1) {
        const i = run[0];
        return `M${fmt(x(i) - 1)} ${fmt(y(values[i]))}h2`;
      }
      return run.map((i, k) => `${k ? 'L' : 'M'}${fmt(x(i))} ${fmt(y(values[i]))}`).join('');
    })
    .join('');
}

/** SVG path data for the area under the line, down to `base` (a y pixel). */
export function areaPath(values, x, y, base) {
  return segments(values)
    .filter((run) => run.length > 1)
    .map((run) => {
      const top = run.map((i, k) => `${k ? 'L' : 'M'}${fmt(x(i))} ${fmt(y(values[i]))}`).join('');
      return `${top}L${fmt(x(run[run.length - 1]))} ${fmt(base)}L${fmt(x(run[0]))} ${fmt(base)}Z`;
    })
    .join('');
}

/** The index of `n` evenly spread points (over [left, right]) nearest to pixel `px`. */
export function nearestIndex(px, n, left, right) {
  if (n <= 1) return 0;
  const t = (px - left) / (right - left);
  return Math.min(n - 1, Math.max(0, Math.round(t * (n - 1))));
}

/** A few x tick indexes for `n` points: the first, the last and some between. */
export function xTickIndexes(n, count = 4) {
  if (n <= 0) return [];
  if (n === 1) return [0];
  const k = Math.max(1, Math.min(count, n - 1));
  const out = new Set();
  for (let j = 0; j <= k; j++) out.add(Math.round((j * (n - 1)) / k));
  return [...out];
}

/** min, max and last of the numbers in `values` (nulls skipped); nulls when none. */
export function summary(values) {
  const ext = extent([values]);
  let last = null;
  for (let i = values.length - 1; i >= 0; i--) {
    if (isNum(values[i])) {
      last = values[i];
      break;
    }
  }
  return { min: ext ? ext[0] : null, max: ext ? ext[1] : null, last };
}

/**
 * Series from several nodes on one time axis: the union of their `at`
 * times, in order, and for each series its values at those times (null
 * where a node has no point).
 */
export function alignSeries(list, pick) {
  const times = [...new Set(list.flatMap((s) => (s.points || []).map((p) => p.at)))].sort(
    (a, b) => Date.parse(a) - Date.parse(b),
  );
  const series = list.map((s) => {
    const by = new Map((s.points || []).map((p) => [p.at, pick(p)]));
    return { name: s.name, values: times.map((t) => (by.has(t) && isNum(by.get(t)) ? by.get(t) : null)) };
  });
  return { times, series };
}

/** An x tick's label: how long before the newest point `at` is ("now", "−15 min", "−2 h"). */
export function relLabel(at, newest) {
  const d = Date.parse(newest) - Date.parse(at);
  if (!Number.isFinite(d)) return '';
  const min = Math.round(d / 60_000);
  if (min <= 0) return 'now';
  if (min < 120) return `−${min} min`;
  return `−${Math.round(min / 60)} h`;
}
