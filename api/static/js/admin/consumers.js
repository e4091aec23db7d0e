// @ts-check
// Admin: the top consumers of a period (GET /api/usage/top-consumers) as SVG bars, names beside costs.
import { h } from '../dom.js';
import { money } from '../format.js';
import { api } from '../http.js';
import { field, section, select } from '../pageparts.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const PERIODS = [['day', 'Today'], ['week', 'This week'], ['month', 'This month']];
const KINDS = [['users', 'Users'], ['teams', 'Teams'], ['apiTokens', 'API tokens'], ['assistants', 'Assistants']];

/** An SVG element with attributes and children (text becomes text nodes). */
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, val] of Object.entries(attrs)) node.setAttribute(key, String(val));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** The "Top consumers" section: a period picker and one bar chart per kind, reloaded on change. */
export function topConsumers() {
  const period = select('period', PERIODS, 'month');
  const charts = h('div', { class: 'consumer-charts' });
  async function load() {
    const body = await api(`/api/usage/top-consumers?${new URLSearchParams({ period: period.value, limit: '8' })}`);
    charts.replaceChildren(...KINDS.map(([kind, title]) => h('figure', { class: 'chart-box' },
      h('figcaption', {}, title), consumerBars(title, body[kind] || []))));
  }
  return { node: section('Top consumers', h('div', { class: 'form-row' }, field('Period', period)), charts), load, control: period };
}

/** Horizontal bars by cost, the name (or the id of something deleted) on the left. */
function consumerBars(title, consumers) {
  if (!consumers.length) return h('p', { class: 'muted' }, 'No usage in this period.');
  const peak = Math.max(...consumers.map((c) => c.costMicros), 1);
  const width = 1000;
  const row = 22;
  const left = 190;
  const right = 90;
  const height = consumers.length * row + 6;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `Top consumers chart: ${title}` });
  consumers.forEach((c, i) => {
    const y = 3 + i * row;
    const name = c.name || c.id;
    const long = Math.max(1, ((width - left - right) * c.costMicros) / peak);
    svg.append(
      s('text', { x: left - 8, y: y + 14, 'text-anchor': 'end' }, name.length > 24 ? `${name.slice(0, 23)}…` : name),
      s('rect', { class: 'bar s0', x: left, y: y + 2, width: long, height: row - 6 },
        s('title', {}, `${name}: ${money(c.costMicros)}, ${c.requests.toLocaleString()} requests, ${c.totalTokens.toLocaleString()} tokens`)),
      s('text', { x: left + long + 6, y: y + 14 }, money(c.costMicros)));
  });
  return svg;
}
