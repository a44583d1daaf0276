// Line charts of the last hour in SVG, drawn from the metrics history: one small chart per
// measure, its latest value in the caption and its range in the accessible name. The time
// axis covers the hour, or the history when it is younger (see `timeRange`).

import { h, s, formatValue } from './dom.js';

const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };

/** Per-minute rates of a counter (the sum of `keys`) between consecutive reports; a counter
 * that went down (the edge restarted) leaves a gap. */
export function rateSeries(points, keys) {
  const out = [];
  for (let i = 1; i < points.length; i += 1) {
    const before = sum(points[i - 1].metrics, keys);
    const after = sum(points[i].metrics, keys);
    const minutes = (Date.parse(points[i].time) - Date.parse(points[i - 1].time)) / 60000;
    const ok = before !== null && after !== null && minutes > 0 && after >= before;
    out.push({ t: Date.parse(points[i].time), v: ok ? (after - before) / minutes : null });
  }
  return out;
}

/** A gauge's values (the first of `keys` each report has). */
export function gaugeSeries(points, keys) {
  return points.map((point) => {
    const key = keys.find((k) => typeof point.metrics[k] === 'number');
    return { t: Date.parse(point.time), v: key ? point.metrics[key] : null };
  });
}

function sum(metrics, keys) {
  let total = 0;
  for (const key of keys) {
    if (typeof metrics[key] !== 'number') return null;
    total += metrics[key];
  }
  return total;
}

/** A chart `title` of `series` between `from` and `to` (milliseconds); points before `from`
 * are left out. */
export function lineChart({ id, title, unit, series: all, from, to }) {
  const series = all.filter((p) => p.t >= from);
  const values = series.filter((p) => p.v !== null);
  const last = values.length ? values[values.length - 1].v : null;
  const max = niceMax(Math.max(0, ...values.map((p) => p.v)));
  const x = (t) => PAD.left + ((t - from) / (to - from)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / max) * (HEIGHT - PAD.top - PAD.bottom);
  const label = values.length
    ? `${title}, last hour: latest ${formatValue(last, unit)}, highest ${formatValue(Math.max(...values.map((p) => p.v)), unit)}`
    : `${title}, last hour: no reports yet`;

  const grid = [0, 0.5, 1].map((f) => {
    const v = max * f;
    return [
      s('line', { class: 'grid', x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v) }),
      s('text', { class: 'axis', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, short(v, unit)),
    ];
  });
  const ticks = [[from, ago(to - from)], [from + (to - from) / 2, ago((to - from) / 2)], [to, 'now']]
    .map(([t, text], i) => s('text', {
      class: 'axis', x: x(t), y: HEIGHT - 4, 'text-anchor': ['start', 'middle', 'end'][i],
    }, text));

  const paths = segments(series).map((segment) => {
    if (segment.length === 1) {
      return s('circle', { class: 'dot', cx: x(segment[0].t), cy: y(segment[0].v), r: 3 });
    }
    const d = segment.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
    const area = `${d}L${x(segment[segment.length - 1].t).toFixed(1)},${y(0)}L${x(segment[0].t).toFixed(1)},${y(0)}Z`;
    return [s('path', { class: 'area', d: area }), s('path', { class: 'line', d })];
  });

  return h('figure', { class: 'chart', id },
    h('figcaption', {}, h('span', { class: 'chart-title' }, title),
      h('span', { class: 'chart-value' }, formatValue(last, unit))),
    s('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label },
      grid, ticks, paths));
}

/** Runs of consecutive known values. */
function segments(series) {
  const runs = [];
  let run = [];
  for (const point of series) {
    if (point.v === null) {
      if (run.length) runs.push(run);
      run = [];
    } else {
      run.push(point);
    }
  }
  if (run.length) runs.push(run);
  return runs;
}

/** "−60 min", "−90 s": how long before now. */
function ago(ms) {
  const seconds = Math.round(ms / 1000);
  return seconds >= 120 ? `−${Math.round(seconds / 60)} min` : `−${seconds} s`;
}

/** The time axis: the last `windowMs` (an hour), or less while the history is shorter (at
 * least `minimumMs`), so a young history is not squeezed against "now". */
export function timeRange(points, windowMs, now, minimumMs = 120000) {
  const first = points.length ? Date.parse(points[0].time) : now;
  const span = Math.min(windowMs, Math.max(minimumMs, now - first));
  return { from: now - span, to: now };
}

/** A round upper bound for the axis. */
function niceMax(value) {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (value <= m * step) return m * step;
  }
  return 10 * step;
}

function short(value, unit) {
  if (unit === 'bytes') return formatValue(value, 'bytes').replace(' ', '');
  if (unit === 'percent') return `${Math.round(value)}%`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return String(Math.round(value * 10) / 10);
}
