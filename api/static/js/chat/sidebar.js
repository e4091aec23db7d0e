// @ts-check
// The chat list beside the conversation: search across chats, folders, archived chats, and
// each chat's actions (rename, pin, archive, file in a folder, tags, delete).

import { h, notify } from '../dom.js';
import { api } from '../http.js';
import { groupedByDate } from './dates.js';
import { Everywhere } from './everywhere.js';

/** The sidebar; `current()` is the open chat's id, `onChange` runs after a chat changed. */
export class Sidebar {
  constructor({ current, navigate, onDeleted, onRenamed }) {
    this.current = current;
    this.navigate = navigate;
    this.onDeleted = onDeleted;
    this.onRenamed = onRenamed;
    this.folders = [];
    this.search = h('input', { type: 'search', placeholder: 'Search chats', 'aria-label': 'Search chats',
      oninput: () => this.reloadSoon() });
    this.folderFilter = h('select', { 'aria-label': 'Folder', onchange: () => this.folderChosen() });
    this.folderActions = h('div', { class: 'row sidebar-filters', hidden: true },
      h('button', { class: 'link', onclick: () => this.renameFolder() }, 'Rename folder'),
      h('button', { class: 'link danger', onclick: () => this.deleteFolder() }, 'Delete folder'));
    this.archived = h('input', { type: 'checkbox', onchange: () => this.reload() });
    this.list = h('ul', { class: 'chat-list', 'aria-label': 'Chats' });
    this.everywhere = new Everywhere();
    this.node = h('aside', { class: 'chat-sidebar', id: 'chat-sidebar', 'aria-label': 'Your chats' },
      h('button', { class: 'primary new-chat', onclick: () => navigate('#/chat') }, 'New chat'),
      this.search,
      h('div', { class: 'row sidebar-filters' }, this.folderFilter,
        h('button', { class: 'link', onclick: () => this.newFolder() }, 'New folder')),
      this.folderActions,
      h('label', { class: 'check' }, this.archived, ' Archived'),
      this.list,
      this.everywhere.node);
    this.timer = null;
    this.reloads = 0; // each reload's ticket: only the newest one may draw the list
  }

  reloadSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.reload(), 250);
  }

  async loadFolders() {
    try {
      const body = await api('/api/chat-folders');
      this.folders = body._embedded?.chatFolders || [];
    } catch { this.folders = []; }
    const chosen = this.folderFilter.value;
    this.folderFilter.replaceChildren(h('option', { value: '' }, 'All folders'),
      ...this.folders.map((f) => h('option', { value: f.id }, f.name)));
    this.folderFilter.value = this.folders.some((f) => f.id === chosen) ? chosen : '';
    this.folderActions.hidden = !this.folderFilter.value;
  }

  async reload() {
    const params = new URLSearchParams({ limit: '200' });
    if (this.search.value.trim()) params.set('q', this.search.value.trim());
    this.everywhere.show(this.search.value.trim());
    if (this.archived.checked) params.set('archived', 'true');
    if (this.folderFilter.value) params.set('folderId', this.folderFilter.value);
    const ticket = ++this.reloads;
    try {
      const body = await api(`/api/chats?${params}`);
      if (ticket !== this.reloads) return; // a newer filter's answer is coming: this one is stale
      const chats = body._embedded?.chats || [];
      // Search results come by relevance: grouping them by date would scatter them.
      const items = params.has('q') ? chats.map((chat) => this.item(chat)) : groupedByDate(chats, (chat) => this.item(chat));
      this.list.replaceChildren(...items);
      if (!chats.length) this.list.append(h('li', { class: 'muted empty' }, 'No chats.'));
    } catch (err) {
      notify(err.message);
    }
  }

  item(chat) {
    const open = chat.id === this.current();
    const link = h('a', { href: `#/chat/${chat.id}`, class: 'chat-link', 'aria-current': open ? 'page' : false },
      chat.pinned ? h('span', { class: 'pin', 'aria-label': 'Pinned' }, '📌 ') : null,
      h('span', { class: 'chat-title' }, chat.title || 'New chat'),
      chat.snippet ? h('small', { class: 'snippet muted' }, chat.snippet) : null,
      (chat.tags || []).length ? h('small', { class: 'tags muted' }, chat.tags.map((t) => `#${t}`).join(' ')) : null);
    const menu = h('details', { class: 'chat-menu', onkeydown: (event) => {
      if (event.key === 'Escape') { menu.open = false; menu.querySelector('summary').focus(); }
    }, ontoggle: () => {
      if (!menu.open) return;
      const open = /** @type {NodeListOf<HTMLDetailsElement>} */ (this.list.querySelectorAll('details[open]'));
      for (const other of open) if (other !== menu) other.open = false;
    } },
      h('summary', { 'aria-label': `Actions for ${chat.title}` }, '⋯'),
      h('div', { class: 'menu' },
        h('button', { class: 'link', onclick: () => this.rename(li, chat) }, 'Rename'),
        h('button', { class: 'link', onclick: () => this.patch(chat, { pinned: !chat.pinned }) }, chat.pinned ? 'Unpin' : 'Pin'),
        h('button', { class: 'link', onclick: () => this.patch(chat, { archived: !chat.archived }) }, chat.archived ? 'Unarchive' : 'Archive'),
        this.folderPicker(chat),
        h('button', { class: 'link', onclick: () => this.editTags(li, chat) }, 'Tags'),
        h('button', { class: 'link danger', onclick: () => this.remove(chat) }, 'Delete')));
    const li = h('li', { class: open ? 'current' : '' }, link, menu);
    return li;
  }

  folderPicker(chat) {
    if (!this.folders.length) return null;
    const select = h('select', { 'aria-label': 'Move to folder',
      onchange: () => this.patch(chat, { folderId: select.value || null }) },
    h('option', { value: '' }, 'No folder'), this.folders.map((f) => h('option', { value: f.id }, f.name)));
    select.value = chat.folderId || '';
    return select;
  }

  inlineForm(li, label, value, save) {
    const input = h('input', { 'aria-label': label, value });
    const form = h('form', { class: 'inline-form', onsubmit: async (event) => {
      event.preventDefault();
      await save(input.value);
    } }, input, h('button', { type: 'submit' }, 'Save'),
    h('button', { type: 'button', onclick: () => this.reload() }, 'Cancel'));
    li.replaceChildren(form);
    input.focus();
    input.select();
  }

  rename(li, chat) {
    this.inlineForm(li, 'Chat title', chat.title, async (title) => {
      if (!title.trim()) return;
      await this.patch(chat, { title: title.trim() });
      if (this.onRenamed) this.onRenamed(chat.id, title.trim());
    });
  }

  editTags(li, chat) {
    this.inlineForm(li, 'Tags, separated by commas', (chat.tags || []).join(', '), async (text) => {
      const tags = text.split(',').map((t) => t.trim()).filter(Boolean);
      await this.patch(chat, { tags });
    });
  }

  async patch(chat, changes) {
    try {
      await api(`/api/chats/${chat.id}`, { method: 'PATCH', body: changes });
    } catch (err) {
      notify(err.message);
    }
    await this.reload();
  }

  async remove(chat) {
    if (!window.confirm(`Delete "${chat.title}" and all its messages?`)) return;
    try {
      await api(`/api/chats/${chat.id}`, { method: 'DELETE' });
      notify('Chat deleted.', 'info');
    } catch (err) {
      notify(err.message);
    }
    if (chat.id === this.current() && this.onDeleted) this.onDeleted();
    await this.reload();
  }

  folderChosen() {
    this.folderActions.hidden = !this.folderFilter.value;
    this.reload();
  }

  async renameFolder() {
    const folder = this.folders.find((f) => f.id === this.folderFilter.value);
    if (!folder) return;
    const name = window.prompt('New name of the folder', folder.name);
    if (!name || !name.trim() || name.trim() === folder.name) return;
    try {
      await api(`/api/chat-folders/${folder.id}`, { method: 'PATCH', body: { name: name.trim() } });
      await this.loadFolders();
    } catch (err) {
      notify(err.message);
    }
  }

  async deleteFolder() {
    const folder = this.folders.find((f) => f.id === this.folderFilter.value);
    if (!folder || !window.confirm(`Delete the folder "${folder.name}"? Its chats are kept.`)) return;
    try {
      await api(`/api/chat-folders/${folder.id}`, { method: 'DELETE' });
      this.folderFilter.value = '';
      await this.loadFolders();
      await this.reload();
    } catch (err) {
      notify(err.message);
    }
  }

  async newFolder() {
    const name = window.prompt('Name of the new folder');
    if (!name || !name.trim()) return;
    try {
      const folder = await api('/api/chat-folders', { method: 'POST', body: { name: name.trim() } });
      await this.loadFolders();
      this.folderFilter.value = folder.id;
      await this.reload();
    } catch (err) {
      notify(err.message);
    }
  }
}
