// @ts-check
// Admin: toolkits — list, their tools, test and refresh, approve changed tool definitions, add.
import { h } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { badge, confirmButton, field, form, input, items, run, section } from '../pageparts.js';
import { customToolkits } from './customtools.js';
import { pasteConfig } from './mcpconfig.js';

export async function toolkits(root) {
  const list = h('div', {});
  async function load() {
    const found = items(await api('/api/toolkits?limit=500'), 'toolkits');
    list.replaceChildren(...found.map((kit) => toolkitPanel(kit, load)));
  }
  const add = form({ 'aria-label': 'New toolkit' }, async (node) => {
    await api('/api/toolkits', { method: 'POST', body: {
      name: node.elements.name.value.trim(), url: node.elements.url.value.trim(),
      description: node.elements.description.value.trim(), kind: 'mcp_http', shared: node.elements.shared.checked,
    } });
    node.reset();
    await load();
  },
  field('Toolkit name', input('name', { required: true, maxlength: 200 })),
  field('MCP server URL', input('url', { type: 'url', required: true, placeholder: 'https://…/mcp' })),
  field('Description', input('description', { maxlength: 2000 })),
  h('label', { class: 'field check' }, input('shared', { type: 'checkbox' }), 'Shared with everyone'),
  h('button', { type: 'submit', class: 'primary' }, 'Add toolkit'));
  root.replaceChildren(section('New toolkit', add), section('Paste your MCP config', pasteConfig(load)),
    section('HTTP tools and OpenAPI', customToolkits(load)), list);
  await load();
}

function toolkitPanel(kit, reload) {
  const tools = h('div', {});
  const outcome = h('p', { class: 'muted', role: 'status' });
  const connection = kit.connection || { state: 'unknown' };
  const showTools = async () => {
    const found = items(await api(`/api/toolkits/${kit.id}/tools`), 'tools');
    tools.replaceChildren(found.length ? h('ul', { class: 'item-list', 'aria-label': `Tools of ${kit.name}` },
      found.map((tool) => toolItem(kit, tool, showTools))) : h('p', { class: 'muted' }, 'No tools discovered yet.'));
  };
  /** @type {HTMLElement[]} */
  const buttons = [
    h('button', { type: 'button', onclick: (e) => run(e.currentTarget, showTools) }, `Tools of ${kit.name}`),
  ];
  if (kit.kind !== 'builtin') {
    buttons.push(
      h('button', { type: 'button', onclick: (e) => run(e.currentTarget, async () => {
        const result = await api(`/api/toolkits/${kit.id}/_test`, { method: 'POST' });
        outcome.textContent = result.state === 'connected'
          ? `Connected: ${result.toolCount} tools.` : `${result.state}: ${result.reason || ''}`;
      }) }, 'Test'),
      h('button', { type: 'button', onclick: (e) => run(e.currentTarget, async () => {
        const result = await api(`/api/toolkits/${kit.id}/_refresh`, { method: 'POST' });
        const state = result.connection || {};
        outcome.textContent = `Refreshed: ${result.total} tools (${state.state || 'connected'}${state.reason ? `: ${state.reason}` : ''}).`;
        await showTools();
      }) }, 'Refresh'));
    if (kit.editable) {
      buttons.push(confirmButton('Delete', `Delete toolkit ${kit.name}?`, async () => {
        await api(`/api/toolkits/${kit.id}`, { method: 'DELETE' });
        await reload();
      }));
    }
  }
  return h('section', { class: 'panel', 'aria-label': `Toolkit ${kit.name}` },
    h('h2', {}, kit.name, ' ', badge(connection.state)),
    kit.description ? h('p', {}, kit.description) : null,
    h('p', { class: 'muted' }, kit.kind === 'builtin' ? 'built in' : `${kit.kind} · ${kit.url || (kit.command || []).join(' ')}`,
      kit.shared ? ' · shared' : '', kit.refreshedAt ? ` · tools listed ${when(kit.refreshedAt)}` : '',
      connection.reason ? ` · ${connection.reason}` : ''),
    h('p', { class: 'actions' }, buttons), outcome, tools);
}

function toolItem(kit, tool, reload) {
  const approve = tool.approval === 'changed' && kit.editable
    ? h('button', { type: 'button', class: 'primary', onclick: (e) => run(e.currentTarget, async () => {
      await api(`/api/toolkits/${kit.id}/tools/${encodeURIComponent(tool.name)}/_approve`, { method: 'POST' });
      await reload();
    }, `${tool.name} is approved.`) }, `Approve ${tool.name}`)
    : null;
  return h('li', {},
    h('span', { class: 'what' }, h('strong', {}, tool.name),
      h('small', { class: 'muted' }, tool.description || ''),
      h('details', {}, h('summary', {}, 'Input schema'), h('pre', {}, JSON.stringify(tool.inputSchema, null, 2)))),
    h('span', { class: 'actions' }, tool.sideEffects ? badge('side effects', 'pending') : null,
      badge(tool.approval), approve));
}
