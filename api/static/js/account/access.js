// @ts-check
// Account: what can act as you besides your sessions: your API tokens and the MCP clients you
// allowed (GET /api/users/me/mcp-clients).
import { h } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { confirmButton, items, section, table } from '../pageparts.js';

export function tokensPanel() {
  const list = h('div', {});
  const node = section('API tokens', list);
  async function load() {
    const tokens = items(await api('/api/api-tokens?limit=500'), 'apiTokens');
    list.replaceChildren(table('Your API tokens', ['Name', 'Prefix', 'Created', 'Last used', 'Expires', ''],
      tokens.map((/** @type {any} */ t) => [t.name, h('code', {}, t.prefix), when(t.createdAt), when(t.lastUsedAt),
        when(t.expiresAt), t.revokedAt ? `revoked ${when(t.revokedAt)}` : confirmButton('Revoke', 'Revoke this token?', async () => {
          await api(`/api/api-tokens/${encodeURIComponent(t.id)}`, { method: 'DELETE' });
          await load();
        })]), 'You have no API tokens.'));
  }
  return { node, load };
}

export function mcpClientsPanel() {
  const list = h('div', {});
  const node = section('MCP clients', list);
  async function load() {
    const clients = items(await api('/api/users/me/mcp-clients?limit=500').catch(() => null), 'mcpClients');
    list.replaceChildren(table('MCP clients you allowed', ['Client', 'Allowed', 'Last used', ''],
      clients.map((/** @type {any} */ c) => [c.clientName || c.clientId, when(c.createdAt), when(c.lastUsedAt),
        confirmButton('Disconnect', 'Disconnect this client?', async () => {
          await api(`/api/users/me/mcp-clients/${encodeURIComponent(c.id)}`, { method: 'DELETE' });
          await load();
        })]), 'No MCP client acts as you.'));
  }
  return { node, load };
}
