// @ts-check
// Export a chat (Markdown, JSON) and its read-only share links: create, copy, revoke.

import { h, notify } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';

/** The export links and the share panel of one chat. */
export function exportLinks(chatId) {
  const base = `/api/chats/${encodeURIComponent(chatId)}/_export`;
  return h('span', { class: 'exports' },
    h('a', { href: `${base}?format=markdown`, download: '' }, 'Export Markdown'),
    h('a', { href: `${base}?format=json`, download: '' }, 'Export JSON'));
}

export class SharePanel {
  constructor(chatId) {
    this.base = `/api/chats/${encodeURIComponent(chatId)}/shares`;
    this.fresh = h('div', { class: 'share-fresh', hidden: true });
    this.list = h('ul', { class: 'share-list' });
    this.node = h('section', { class: 'share-panel card', 'aria-label': 'Share links', hidden: true },
      h('h2', {}, 'Share a read-only copy'),
      h('p', { class: 'muted' }, 'Anyone with the link can read the chat as it is now, until you revoke the link.'),
      h('button', { class: 'primary', onclick: () => this.create() }, 'Create link'),
      this.fresh, this.list);
  }

  toggle() {
    this.node.hidden = !this.node.hidden;
    if (!this.node.hidden) this.reload();
    return !this.node.hidden;
  }

  async create() {
    try {
      const share = await api(this.base, { method: 'POST' });
      const url = h('input', { readonly: true, 'aria-label': 'Share link', value: share.url });
      this.fresh.replaceChildren(url,
        h('button', { onclick: () => copyText(share.url, 'Link copied.') }, 'Copy link'),
        h('p', { class: 'muted' }, 'The link is shown only now.'));
      this.fresh.hidden = false;
      url.select();
      await this.reload();
    } catch (err) {
      notify(err.message);
    }
  }

  async reload() {
    try {
      const body = await api(this.base);
      const shares = body._embedded?.shares || [];
      this.list.replaceChildren(...shares.map((s) => h('li', {},
        h('code', {}, `${s.tokenPrefix}…`), ' ', h('span', { class: 'muted' }, `made ${when(s.createdAt)}`), ' ',
        s.revokedAt ? h('span', { class: 'muted' }, `revoked ${when(s.revokedAt)}`)
          : h('button', { class: 'link danger', onclick: () => this.revoke(s) }, 'Revoke'))));
    } catch (err) {
      notify(err.message);
    }
  }

  async revoke(share) {
    try {
      await api(`${this.base}/${share.id}`, { method: 'DELETE' });
      notify('Link revoked.', 'info');
    } catch (err) {
      notify(err.message);
    }
    await this.reload();
  }
}

/** Put a text on the clipboard and say so. */
export async function copyText(text, done = 'Copied.') {
  try {
    await navigator.clipboard.writeText(text);
    notify(done, 'info');
  } catch {
    notify('The browser did not allow copying; select the text and copy it by hand.');
  }
}
