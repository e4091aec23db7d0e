// @ts-check
// Files in the composer: an Attach button, drag-and-drop and paste of files and images, each
// uploaded to the chat at once (XHR, for its progress) and shown as a thumbnail or a name; the
// sent message shows what it carried and how the model was given each (image, inline, retrieved).

import { h, notify } from '../dom.js';
import { api, csrfToken } from '../http.js';

const USES = { image: 'shown as an image', inline: 'read whole', retrieved: 'searched, with citations' };

/**
 * Upload one file to a chat's attachments, reporting progress (0-1).
 * @param {string} chatId
 * @param {File} file
 * @param {(share: number) => void} progress
 * @returns {Promise<any>} the attachment
 */
function upload(chatId, file, progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/chats/${encodeURIComponent(chatId)}/attachments`);
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.responseType = 'json';
    xhr.upload.onprogress = (event) => { if (event.lengthComputable) progress(event.loaded / event.total); };
    xhr.onload = () => {
      if (xhr.status === 201) resolve(xhr.response._embedded.attachments[0]);
      else reject(new Error(xhr.response?.message || `The upload failed (${xhr.status}).`));
    };
    xhr.onerror = () => reject(new Error('The upload failed: the connection broke.'));
    const form = new FormData();
    form.append('files', file, file.name || 'pasted-image.png');
    xhr.send(form);
  });
}

/** A thumbnail (images) or a file chip (documents) of an attachment. */
function chip(name, imageUrl, note) {
  return h('figure', { class: 'attachment' },
    imageUrl ? h('img', { src: imageUrl, alt: name, class: 'attachment-thumb' })
      : h('span', { class: 'attachment-icon', 'aria-hidden': 'true' }, (name.split('.').pop() || 'file').slice(0, 4).toUpperCase()),
    h('figcaption', {}, name, note ? h('span', { class: 'muted' }, ` (${note})`) : null));
}

/** The files waiting in the composer for the next message. */
export class Attachments {
  /** @param {{ chatId: () => Promise<string> }} options */
  constructor(options) {
    this.options = options;
    /** @type {{ id: string | null, node: HTMLElement, uploading: Promise<void> }[]} */
    this.items = [];
    this.input = h('input', { type: 'file', multiple: true, hidden: true, id: 'composer-files',
      onchange: () => { this.add([...(this.input.files || [])]); this.input.value = ''; } });
    this.button = h('button', { type: 'button', class: 'attach', title: 'Attach files or images',
      'aria-label': 'Attach files', onclick: () => this.input.click() }, 'Attach');
    this.tray = h('div', { class: 'attachment-tray', 'aria-live': 'polite', 'aria-label': 'Attached files', role: 'list' });
  }

  /** Take files dropped on or pasted into `target`. @param {HTMLElement} target */
  listen(target) {
    target.addEventListener('dragover', (event) => {
      if (event.dataTransfer?.types.includes('Files')) { event.preventDefault(); target.classList.add('dropping'); }
    });
    target.addEventListener('dragleave', () => target.classList.remove('dropping'));
    target.addEventListener('drop', (event) => {
      target.classList.remove('dropping');
      const files = [...(event.dataTransfer?.files || [])];
      if (files.length) { event.preventDefault(); this.add(files); }
    });
    target.addEventListener('paste', (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (files.length) { event.preventDefault(); this.add(files); }
    });
  }

  /** Upload files now, each shown with its progress. @param {File[]} files */
  async add(files) {
    let chatId;
    try {
      chatId = await this.options.chatId();
    } catch (err) {
      notify(err.message);
      return;
    }
    for (const file of files) {
      const bar = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${file.name}` });
      const remove = h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${file.name}` }, '×');
      const node = h('div', { class: 'attachment-item', role: 'listitem' }, chip(file.name, null, ''), bar, remove);
      const item = { id: null, node, uploading: Promise.resolve() };
      if (file.type.startsWith('image/')) {
        const reader = new FileReader();
        reader.onload = () => node.replaceChild(chip(file.name, String(reader.result), ''), node.firstChild);
        reader.readAsDataURL(file);
      }
      remove.onclick = () => this.drop(item, chatId);
      item.uploading = upload(chatId, file, (share) => { bar.value = share; }).then((attachment) => {
        item.id = attachment.id;
        bar.remove();
      }, (err) => {
        this.items = this.items.filter((i) => i !== item);
        node.remove();
        notify(`${file.name}: ${err.message}`);
      });
      this.items.push(item);
      this.tray.append(node);
    }
  }

  async drop(item, chatId) {
    this.items = this.items.filter((i) => i !== item);
    item.node.remove();
    await item.uploading;
    if (item.id) api(`/api/chats/${chatId}/attachments/${item.id}`, { method: 'DELETE' }).catch(() => {});
  }

  /** The ids of the uploaded files, once every upload has ended; the tray is emptied. */
  async take() {
    await Promise.all(this.items.map((i) => i.uploading));
    const ids = this.items.map((i) => i.id).filter(Boolean);
    this.taken = this.items;
    this.items = [];
    this.tray.replaceChildren();
    return ids;
  }

  /** Put back the files of a message that was refused, to send them again. */
  restore() {
    this.items = [...(this.taken || []), ...this.items];
    this.taken = [];
    this.tray.replaceChildren(...this.items.map((i) => i.node));
  }
}

/**
 * Show on each user message the attachments it carried.
 * @param {string} chatId
 * @param {{ message: any, node: HTMLElement }[]} views
 */
export async function showSent(chatId, views) {
  const body = await api(`/api/chats/${encodeURIComponent(chatId)}/attachments`);
  const byMessage = new Map();
  for (const a of body._embedded?.attachments || []) {
    if (!a.messageId) continue;
    if (!byMessage.has(a.messageId)) byMessage.set(a.messageId, []);
    byMessage.get(a.messageId).push(a);
  }
  for (const view of views) {
    const carried = byMessage.get(view.message.id);
    if (!carried) continue;
    view.node.querySelector('.message-attachments')?.remove();
    view.node.append(h('div', { class: 'message-attachments' }, ...carried.map((a) =>
      chip(a.name, a.kind === 'image' ? a._links.content.href : null, USES[a.use] || ''))));
  }
}
