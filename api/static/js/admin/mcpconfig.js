// @ts-check
// Admin: "Paste your MCP config" — read a Claude Desktop / Cursor config, a command line or a URL
// into toolkit drafts (POST /api/toolkit-parse-config), show them, then create each one.
import { h } from '../dom.js';
import { api } from '../http.js';
import { badge, field, form, items, run } from '../pageparts.js';

export function pasteConfig(reload) {
  const drafts = h('div', {});
  const outcome = h('p', { class: 'muted', role: 'status' });
  const read = form({ 'aria-label': 'Paste your MCP config' }, async (node) => {
    const found = items(await api('/api/toolkit-parse-config', { method: 'POST', body: {
      config: node.elements.config.value,
    } }), 'drafts');
    outcome.textContent = '';
    drafts.replaceChildren(draftList(found, async (created) => {
      outcome.textContent = `Created ${created} toolkit${created === 1 ? '' : 's'}.`;
      drafts.replaceChildren();
      node.reset();
      await reload();
    }));
  },
  field('MCP config', h('textarea', { name: 'config', required: true, rows: 6, maxlength: 64000,
    placeholder: '{"mcpServers": {…}}, npx -y @modelcontextprotocol/server-filesystem /tmp, or https://…/mcp' }),
  'Claude Desktop / Cursor JSON, a command line or a URL. Nothing is created until you confirm.'),
  h('button', { type: 'submit' }, 'Read config'));
  return h('div', {}, read, drafts, outcome);
}

function draftList(found, done) {
  const creatable = found.filter((d) => !d.needsAdmin);
  const create = h('button', { type: 'button', class: 'primary', disabled: !creatable.length,
    onclick: (e) => run(e.currentTarget, async () => {
      for (const draft of creatable) await api('/api/toolkits', { method: 'POST', body: draft.config });
      await done(creatable.length);
    }) }, `Create ${creatable.length} toolkit${creatable.length === 1 ? '' : 's'}`);
  return h('div', {},
    h('ul', { class: 'item-list', 'aria-label': 'Toolkit drafts' }, found.map((d) => h('li', {},
      h('span', { class: 'what' }, h('strong', {}, d.config.name), ' ', badge(d.type, 'pending'),
        h('small', { class: 'muted' }, d.config.url || (d.config.command || []).join(' ')),
        d.secrets.length ? h('small', {}, `Looks like a secret: ${d.secrets.map((s) => s.name).join(', ')}`
          + ' — consider storing it as an assistant secret.') : null,
        d.needsAdmin ? h('small', {}, 'Creating it needs an admin.') : null,
        ...d.notes.filter((n) => !d.needsAdmin || !n.startsWith('Only admins')).map((n) => h('small', { class: 'muted' }, n)))))),
    h('p', { class: 'actions' }, create));
}
