// @ts-check
// Admin: usage over time as an SVG chart (by day, month, model, user) from GET /api/usage, and CSV
// export; cost per month from GET /api/usage/monthly; the top consumers (./consumers.js).
import { h, notify } from '../dom.js';
import { money } from '../format.js';
import { api } from '../http.js';
import { field, items, run, section, select, table } from '../pageparts.js';
import { s, topConsumers } from './consumers.js';
import { allUsers, userLabel } from './people.js';

const VIEWS = [
  ['day', 'By day'], ['day,model', 'By day and model'], ['day,user', 'By day and user'],
  ['model', 'By model'], ['user', 'By user'], ['team', 'By team'], ['assistant', 'By assistant'],
];
const MONTHLY_STACKS = [['model', 'By model'], ['team', 'By team']];
const METRICS = [['costMicros', 'Cost'], ['totalTokens', 'Tokens'], ['requests', 'Requests']];
const SERIES = 6;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function shown(metric, amount) {
  return metric === 'costMicros' ? money(amount) : amount.toLocaleString();
}

export async function usage(root) {
  const people = new Map((await allUsers()).map((u) => [u.id, userLabel(u)]));
  const today = new Date();
  const from = h('input', { type: 'date', name: 'from', value: isoDay(new Date(today.getTime() - 29 * 86400e3)) });
  const to = h('input', { type: 'date', name: 'to', value: isoDay(today) });
  const view = select('groupBy', VIEWS, 'day,model');
  const metric = select('metric', METRICS, 'costMicros');
  const chart = h('figure', { class: 'chart-box' });
  const figures = h('div', {});

  function query() {
    const params = new URLSearchParams({ groupBy: view.value });
    if (from.value) params.set('from', `${from.value}T00:00:00Z`);
    if (to.value) params.set('to', `${isoDay(new Date(Date.parse(to.value) + 86400e3))}T00:00:00Z`);
    return `/api/usage?${params}`;
  }

  const named = new Map(); // `${dimension}:${id}` -> the name the report gave
  const label = (dimension, raw) => {
    if (raw === null || raw === undefined) return '(none)';
    if (dimension === 'user' && people.has(raw)) return people.get(raw);
    return named.get(`${dimension}:${raw}`) || raw;
  };

  async function load() {
    const rows = items(await api(query()), 'usage');
    for (const row of rows) {
      for (const [dimension, name] of Object.entries(row.names || {})) named.set(`${dimension}:${row.group[dimension]}`, name);
    }
    const dims = view.value.split(',');
    chart.replaceChildren(drawChart(rows, dims, metric.value, label, chart.clientWidth));
    figures.replaceChildren(table('Usage figures',
      [...dims.map((d) => d[0].toUpperCase() + d.slice(1)), 'Requests', 'Tokens', 'Cost'],
      rows.map((r) => [...dims.map((d) => label(d, r.group[d])), String(r.requests), r.totalTokens.toLocaleString(), money(r.costMicros)]),
      'No usage in this period.'));
  }

  const download = h('button', { type: 'button', onclick: () => run(download, async () => {
    const response = await fetch(query(), { headers: { Accept: 'text/csv' }, credentials: 'same-origin' });
    if (!response.ok) throw new Error(`The export failed (${response.status}).`);
    const url = URL.createObjectURL(await response.blob());
    const link = h('a', { href: url, download: `usage-${from.value}-${to.value}.csv`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }) }, 'Download CSV');

  const monthly = monthlyCost();
  const top = topConsumers();
  const failed = (err) => notify(err.message);
  for (const control of [from, to, view, metric]) control.addEventListener('change', () => load().catch(failed));
  root.replaceChildren(
    section('Usage over time',
      h('div', { class: 'form-row' }, field('From', from), field('To', to), field('Show', view), field('Measure', metric), download),
      chart),
    section('Figures', figures),
    monthly.node,
    top.node);
  top.control.addEventListener('change', () => top.load().catch(failed));
  await Promise.all([load(), monthly.load(), top.load()]);
}

/** Cost per month of the last twelve, stacked by model or team (GET /api/usage/monthly). */
function monthlyCost() {
  const stack = select('stack', MONTHLY_STACKS, 'model');
  const chart = h('figure', { class: 'chart-box' });
  async function load() {
    const rows = items(await api('/api/usage/monthly'), 'months').map((m) => ({
      ...m, group: { month: m.month, model: m.model, team: m.teamName || m.teamId },
    }));
    const text = (dimension, raw) => (raw === null || raw === undefined ? '(none)' : raw);
    chart.replaceChildren(drawChart(rows, ['month', stack.value], 'costMicros', text, chart.clientWidth, 'Monthly cost chart'));
  }
  stack.addEventListener('change', () => load().catch((err) => notify(err.message)));
  return { node: section('Cost by month', h('div', { class: 'form-row' }, field('Stack', stack)), chart), load };
}

/** Bars by the first dimension; a second dimension stacks them (top five, then "other"). */
function drawChart(rows, dims, metric, label, room, title = 'Usage chart') {
  if (!rows.length) return h('p', { class: 'muted' }, 'No usage in this period.');
  const [main, stack] = dims;
  const totals = new Map();
  for (const row of rows) {
    const key = stack ? label(stack, row.group[stack]) : '';
    totals.set(key, (totals.get(key) || 0) + row[metric]);
  }
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k);
  const seriesOf = (key) => Math.min(top.indexOf(key), SERIES - 1);
  const groups = new Map();
  for (const row of rows) {
    const x = label(main, row.group[main]);
    const parts = groups.get(x) || new Array(SERIES).fill(0);
    parts[seriesOf(stack ? label(stack, row.group[stack]) : '')] += row[metric];
    groups.set(x, parts);
  }
  const bars = [...groups.entries()];
  const peak = Math.max(...bars.map(([, parts]) => parts.reduce((a, b) => a + b, 0)), 1);
  const width = Math.max(320, Math.min(960, room || 720));
  const height = 260;
  const left = 70;
  const bottom = 40;
  const step = (width - left - 10) / bars.length;
  const labelEvery = Math.ceil(bars.length / Math.max(1, Math.floor((width - left) / 48)));
  const barWidth = Math.max(2, Math.min(48, step * 0.7));
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${title}: ${bars.length} bars, highest ${shown(metric, peak)}` });
  for (const tick of [0, 0.5, 1]) {
    const y = height - bottom - tick * (height - bottom - 10);
    svg.append(s('line', { class: 'axis', x1: left, x2: width - 5, y1: y, y2: y }),
      s('text', { x: left - 6, y: y + 4, 'text-anchor': 'end' }, shown(metric, Math.round(peak * tick))));
  }
  bars.forEach(([x, parts], i) => {
    const cx = left + step * i + step / 2;
    let base = height - bottom;
    parts.forEach((amount, series) => {
      if (!amount) return;
      const tall = (amount / peak) * (height - bottom - 10);
      base -= tall;
      svg.append(s('rect', { class: `bar s${series}`, x: cx - barWidth / 2, y: base, width: barWidth, height: Math.max(tall, 1) },
        s('title', {}, `${x}${stack ? ` · ${top[series] ?? 'other'}` : ''}: ${shown(metric, amount)}`)));
    });
    if (i % labelEvery === 0) {
      svg.append(s('text', { x: cx, y: height - bottom + 16, 'text-anchor': 'middle' }, main === 'day' ? x.slice(5) : x.slice(0, 14)));
    }
  });
  const legend = stack ? h('ul', { class: 'legend', 'aria-label': 'Legend' }, top.slice(0, SERIES).map((name, i) =>
    h('li', {}, legendSwatch(i), i === SERIES - 1 && top.length > SERIES ? 'other' : name))) : null;
  return h('div', {}, svg, legend);
}

function legendSwatch(series) {
  return s('svg', { width: 12, height: 12, 'aria-hidden': 'true', class: `s${series}` }, s('rect', { width: 12, height: 12, class: `s${series}` }));
}
