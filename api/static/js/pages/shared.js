// A shared chat, read-only, for anyone with the link (no login needed). Signed-in readers get
// the Markdown rendered by the server; others see the text as it was written.

import { api, h, renderMarkdown, when } from '/static/js/app.js';

export async function render(root, params, ctx) {
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
  const bodies = messages.map((m) => h('div', { class: 'msg-body plain' }, m.content));
  root.replaceChildren(
    h('h1', { class: 'chat-heading' }, shared.title || 'Shared chat'),
    h('p', { class: 'muted' }, `A read-only copy shared ${when(shared.sharedAt)}.`),
    h('div', { class: 'thread', role: 'log', 'aria-label': 'Conversation' },
      messages.map((m, i) => h('article', { class: `msg msg-${m.role}` },
        h('header', { class: 'msg-head' }, h('strong', {}, m.role === 'user' ? 'User' : (m.model || 'Assistant'))),
        bodies[i]))));
  if (await signedIn(ctx)) {
    const html = await renderMarkdown(messages.map((m) => m.content)).catch(() => null);
    if (html) bodies.forEach((body, i) => {
      body.classList.remove('plain');
      body.replaceChildren(h('div', { class: 'markdown', html: html[i] }));
    });
  }
  return null;
}

// Markdown is rendered by the server for signed-in people only; a plain fetch, so a reader
// without a session is not sent to the login form.
async function signedIn(ctx) {
  if (ctx.me) return true;
  const answer = await fetch('/api/me', { credentials: 'same-origin' }).catch(() => null);
  return Boolean(answer && answer.ok);
}
