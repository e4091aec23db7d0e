// @ts-check
// Admin: usage budgets — create, edit, delete, and this period's spent and remaining with a bar.
import { h } from '../dom.js';
import { money, when } from '../format.js';
import { api } from '../http.js';
import { confirmButton, field, form, input, items, run, section, select, table, value } from '../pageparts.js';
import { allTeams, allUsers, userLabel } from './people.js';

const PERIODS = [['day', 'day'], ['week', 'week'], ['month', 'month'], ['total', 'in total']];
const SCOPES = [['user', 'a user'], ['team', 'a team'], ['assistant', 'an assistant'], ['global', 'everyone']];

function dollarsToMicros(text) {
  return Math.round(Number(text) * 1e6);
}

export async function budgets(root) {
  const list = h('div', {});
  const [people, teams, assistants] = await Promise.all([
    allUsers(), allTeams(), api('/api/assistants?limit=500').then((b) => items(b, 'assistants')),
  ]);
  const targets = {
    user: people.map((u) => [u.id, userLabel(u)]),
    team: teams.map((t) => [t.id, t.name]),
    assistant: assistants.map((a) => [a.id, a.name]),
    global: [],
  };
  const names = new Map(Object.values(targets).flat());

  async function load() {
    const found = items(await api('/api/usage-budgets?limit=500'), 'usageBudgets');
    const rows = found.map((b) => budgetRow(b, names, load));
    list.replaceChildren(table('Budgets', ['Name', 'Applies to', 'Limit', 'Spent', 'Remaining', ''], rows,
      'No budgets yet.'));
  }
  root.replaceChildren(section('New budget', createForm(targets, load)), section('Budgets', list));
  await load();
}

function createForm(targets, reload) {
  const scope = select('scope', SCOPES, 'user');
  const target = h('select', { name: 'scopeId' });
  const targetField = field('Who', target);
  const fill = () => {
    const options = targets[scope.value];
    target.replaceChildren(...options.map(([id, label]) => h('option', { value: id }, label)));
    targetField.hidden = scope.value === 'global';
  };
  scope.addEventListener('change', fill);
  fill();
  return form({ 'aria-label': 'New budget' }, async (node) => {
    const body = {
      name: value(node, 'name'), scope: scope.value,
      scopeId: scope.value === 'global' ? null : target.value,
      limitMicros: dollarsToMicros(node.elements.limit.value),
      period: node.elements.period.value, hard: node.elements.hard.checked,
    };
    await api('/api/usage-budgets', { method: 'POST', body });
    node.reset();
    fill();
    await reload();
  },
  field('Budget name', input('name', { required: true, maxlength: 200 })),
  field('Applies to', scope), targetField,
  field('Limit (US$)', input('limit', { type: 'number', min: 0, step: '0.01', required: true })),
  field('Period', select('period', PERIODS, 'month')),
  h('label', { class: 'field check' }, input('hard', { type: 'checkbox', defaultChecked: true }), 'Refuse requests over the limit'),
  h('button', { type: 'submit', class: 'primary' }, 'Add budget'));
}

function budgetRow(budget, names, reload) {
  const who = budget.scope === 'global' ? 'everyone' : `${budget.scope} ${names.get(budget.scopeId) || budget.scopeId}`;
  const limit = budget.limitMicros === null ? `${budget.limitTokens} tokens` : money(budget.limitMicros);
  const per = PERIODS.find(([p]) => p === budget.period)[1];
  const spent = budget.limitMicros === null ? budget.spentTokens : budget.spentMicros;
  const max = budget.limitMicros === null ? budget.limitTokens : budget.limitMicros;
  const over = budget.remainingMicros === 0 || budget.remainingTokens === 0;
  const bar = h('meter', {
    min: 0, max: Math.max(max, 1), value: Math.min(spent, Math.max(max, 1)), low: max * 0.7, high: max * 0.9, optimum: 0,
    'aria-label': `${budget.name}: ${money(budget.spentMicros)} spent of ${limit}`,
  });
  const editing = h('div', {});
  const edit = h('button', { type: 'button', onclick: () => {
    editing.replaceChildren(editForm(budget, reload));
    editing.querySelector('input').focus();
  } }, `Edit ${budget.name}`);
  return [
    h('span', {}, budget.name, ' ', budget.hard ? null : h('small', { class: 'muted' }, '(soft)')),
    who,
    `${limit} ${per === 'in total' ? per : `a ${per}`}`,
    h('span', { class: 'status' }, bar, money(budget.spentMicros), over ? h('span', { class: 'badge badge-exceeded' }, 'exceeded') : null),
    h('span', {}, budget.remainingMicros === null ? '—' : money(budget.remainingMicros),
      budget.resetsAt ? h('small', { class: 'muted' }, ` resets ${when(budget.resetsAt)}`) : null),
    h('span', { class: 'actions' }, edit,
      confirmButton('Delete', `Delete ${budget.name}?`, async () => {
        await api(`/api/usage-budgets/${budget.id}`, { method: 'DELETE' });
        await reload();
      }), editing),
  ];
}

function editForm(budget, reload) {
  return form({ 'aria-label': `Edit ${budget.name}`, class: 'form-row stacked' }, async (node) => {
    const text = node.elements.limit.value.trim();
    const body = {
      name: value(node, 'name'), period: node.elements.period.value, hard: node.elements.hard.checked,
    };
    if (text !== '') body.limitMicros = dollarsToMicros(text);
    await api(`/api/usage-budgets/${budget.id}`, { method: 'PATCH', body });
    await reload();
  },
  field('Budget name', input('name', { required: true, value: budget.name })),
  field('Limit (US$)', input('limit', {
    type: 'number', min: 0, step: '0.000001', value: budget.limitMicros === null ? '' : budget.limitMicros / 1e6,
  })),
  field('Period', select('period', PERIODS, budget.period)),
  h('label', { class: 'field check' }, input('hard', { type: 'checkbox', defaultChecked: budget.hard }), 'Refuse requests over the limit'),
  h('button', { type: 'submit', class: 'primary' }, 'Save budget'));
}
