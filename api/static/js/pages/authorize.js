// @ts-check
// Consent for an MCP client that signs in with OAuth (GET /authorize sends the browser here):
// which client, which scopes, as which user; "Allow" returns to the client with a one-time code,
// "Deny" returns it an access_denied error.

import { h } from '../dom.js';
import { api } from '../http.js';

/** What each scope lets a client do, in words. @type {Record<string, string>} */
const SCOPES = {
  mcp: 'Use Switchboard\'s tools as you over MCP: read your chats, library and assistants, and ask questions billed to you.',
};

/**
 * @param {HTMLElement} root
 * @param {Record<string, string | null>} params
 */
export async function render(root, params) {
  root.classList.add('consent-page');
  const id = encodeURIComponent(params.requestId || '');
  let asked;
  try {
    asked = await api(`/api/mcp-authorizations/${id}`);
  } catch (err) {
    root.replaceChildren(h('h1', {}, 'Connect an MCP client'),
      h('p', { class: 'error', role: 'alert' }, err.message));
    return null;
  }
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  /** @param {'_allow' | '_deny'} decision */
  const decide = async (decision) => {
    for (const button of buttons) button.disabled = true;
    try {
      const done = await api(`/api/mcp-authorizations/${id}/${decision}`, { method: 'POST' });
      location.assign(done.redirectTo);
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
      for (const button of buttons) button.disabled = false;
    }
  };
  const buttons = [
    h('button', { type: 'button', class: 'primary', onclick: () => decide('_allow') }, 'Allow'),
    h('button', { type: 'button', onclick: () => decide('_deny') }, 'Deny'),
  ];
  const who = asked.user.displayName && asked.user.displayName !== asked.user.username
    ? `${asked.user.displayName} (${asked.user.username})` : asked.user.username;
  let back = asked.redirectUri;
  try { back = new URL(asked.redirectUri).origin; } catch { /* a private-use scheme: shown whole */ }
  root.replaceChildren(h('section', { class: 'card consent', 'aria-labelledby': 'consent-title' },
    h('h1', { id: 'consent-title' }, `Allow ${asked.clientName} to use Switchboard as you?`),
    h('dl', {},
      h('dt', {}, 'Client'), h('dd', {}, asked.clientName,
        asked.clientUri ? h('span', { class: 'muted' }, ` (${asked.clientUri})`) : ''),
      h('dt', {}, 'Signed in as'), h('dd', {}, who),
      h('dt', {}, 'Scopes'), h('dd', {}, h('ul', {}, asked.scopes.map(
        (/** @type {string} */ scope) => h('li', {}, h('code', {}, scope), ' — ', SCOPES[scope] || scope)))),
      h('dt', {}, 'Returns to'), h('dd', {}, h('code', {}, back))),
    h('p', { class: 'muted' }, 'You can disconnect it at any time; its access ends at once.'),
    error,
    h('div', { class: 'actions' }, buttons)));
  return null;
}
