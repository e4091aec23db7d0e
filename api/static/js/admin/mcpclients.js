// @ts-check
// Admin: MCP clients that registered themselves for OAuth (POST /register). Those whose redirect
// URIs are not on loopback or an allowed host wait here until approved; any can be removed.
import { h } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { badge, confirmButton, items, run, section, table } from '../pageparts.js';

/** @param {HTMLElement} root */
export async function mcpClients(root) {
  const pending = h('div', {});
  const active = h('div', {});
  async function load() {
    const [waiting, ready] = await Promise.all([
      api('/api/mcp-clients?status=pending&limit=500&sort=-createdAt'),
      api('/api/mcp-clients?status=active&limit=500&sort=-createdAt'),
    ]);
    pending.replaceChildren(table('MCP clients awaiting approval', ['Client', 'Redirect URIs', 'Registered', ''],
      items(waiting, 'mcpClients').map((c) => row(c, load)), 'No client is waiting.'));
    active.replaceChildren(table('Approved MCP clients', ['Client', 'Redirect URIs', 'Registered', ''],
      items(ready, 'mcpClients').map((c) => row(c, load)), 'No MCP client has registered yet.'));
  }
  root.replaceChildren(
    h('p', { class: 'muted' }, 'MCP clients (Claude, Cursor, VS Code...) register themselves when a user adds Switchboard by its /mcp URL. ' +
      'A client that returns to a host not on loopback or in SWITCHBOARD_MCP_OAUTH_ALLOWED_REDIRECT_HOSTS waits for approval.'),
    section('Awaiting approval', pending), section('Approved', active));
  await load();
}

/**
 * @param {any} client
 * @param {() => Promise<void>} reload
 */
function row(client, reload) {
  const actions = h('span', { class: 'actions' });
  if (client.status === 'pending') {
    actions.append(h('button', { type: 'button', class: 'primary', onclick: (/** @type {MouseEvent} */ e) => run(
      /** @type {HTMLButtonElement} */ (e.currentTarget), async () => {
        await api(`/api/mcp-clients/${client.id}/_approve`, { method: 'POST' });
        await reload();
      }, `${client.name} may now ask users for access.`) }, `Approve ${client.name}`), ' ');
  }
  actions.append(confirmButton('Remove', `Remove ${client.name} and every user's access through it?`, async () => {
    await api(`/api/mcp-clients/${client.id}`, { method: 'DELETE' });
    await reload();
  }));
  return [
    h('span', {}, client.name, ' ', badge(client.status)),
    h('span', {}, client.redirectUris.map((/** @type {string} */ uri) => h('code', { class: 'uri' }, uri, ' '))),
    when(client.createdAt),
    actions,
  ];
}
