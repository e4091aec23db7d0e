// @ts-check
// The admin page: one section at a time (#/admin/<section>), each in api/static/js/admin/.
import { h } from '../dom.js';

const SECTIONS = [
  ['users', 'Users', 'people'],
  ['teams', 'Teams', 'people'],
  ['seats', 'Seats', 'seats'],
  ['budgets', 'Budgets', 'budgets'],
  ['usage', 'Usage', 'usage'],
  ['models', 'Models and providers', 'catalog'],
  ['toolkits', 'Toolkits', 'toolkits'],
  ['mcpClients', 'MCP clients', 'mcpclients'],
  ['audit', 'Audit log', 'audit'],
];

export async function render(root, params, ctx) {
  const current = SECTIONS.find(([id]) => id === params.section) || SECTIONS[0];
  const [id, title, module] = current;
  const body = h('div', { class: 'admin-section' });
  root.replaceChildren(
    h('h1', { class: 'page-title' }, `Admin · ${title}`),
    h('nav', { class: 'tabs', 'aria-label': 'Admin sections' },
      SECTIONS.map(([key, label]) => h('a', { href: `#/admin/${key}`, 'aria-current': key === id ? 'page' : false }, label))),
    body);
  const section = await import(`../admin/${module}.js`);
  return (await section[id](body, ctx)) || null;
}
