// @ts-check
// Your account (#/account): storage, password, two-factor sign-in, sessions, API tokens and MCP clients.
import { h } from '../dom.js';
import { mcpClientsPanel, tokensPanel } from '../account/access.js';
import { passwordPanel } from '../account/password.js';
import { sessionsPanel } from '../account/sessions.js';
import { storagePanel } from '../account/storage.js';
import { twoFactorPanel } from '../account/two_factor.js';

/**
 * @param {HTMLElement} root
 * @param {Record<string, string | null>} _params
 * @param {{me: any}} ctx
 */
export async function render(root, _params, ctx) {
  const panels = [storagePanel(), passwordPanel(), twoFactorPanel(), sessionsPanel(), tokensPanel(), mcpClientsPanel()];
  root.replaceChildren(h('div', { class: 'account' },
    h('h1', {}, `Your account: ${ctx.me.displayName || ctx.me.username}`),
    panels.map((p) => p.node)));
  await Promise.all(panels.map((p) => p.load()));
}
