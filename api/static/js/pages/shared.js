// @ts-check
// A shared chat, read-only, for anyone with the link (no login needed). The server sends each
// message's Markdown rendered and sanitised (contentHtml).

import { h, SafeHtml } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { markdownView } from '../markdown_view.js';

export async function render(root, params) {
  root.classList.add('shared-page');
  let shared;
  try {
    shared = await api(`/api/shared/${encodeURIComponent(params.token)}`);
  } catch (err) {
    root.replaceChildren(h('h1', {}, 'Shared chat'),
      h('p', { class: 'error', role: 'alert' },
        err.status === 404 ? 'This link does not exist or was revoked by the person who shared it.' : err.message));
    return null;
  }
  const messages = (shared.messages || []).filter((m) => m.content);
  const bodies = messages.map((m) => (m.contentHtml === undefined
    ? h('div', { class: 'msg-body plain' }, m.content)
    : h('div', { class: 'msg-body' }, markdownView(new SafeHtml(m.contentHtml)))));
  root.replaceChildren(
    h('h1', { class: 'chat-heading' }, shared.title || 'Shared chat'),
    h('p', { class: 'muted' }, `A read-only copy shared ${when(shared.sharedAt)}.`),
    h('div', { class: 'thread', role: 'log', 'aria-label': 'Conversation' },
      messages.map((m, i) => h('article', { class: `msg msg-${m.role}` },
        h('header', { class: 'msg-head' }, h('strong', {}, m.role === 'user' ? 'User' : (m.model || 'Assistant'))),
        bodies[i]))));
  return null;
}
