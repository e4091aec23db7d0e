// @ts-check
// The library: folders, files, uploads with a progress bar per file, live indexing status.
import { h, notify } from '../dom.js';
import { storageLine } from '../account/storage.js';
import { when } from '../format.js';
import { api, csrfToken } from '../http.js';
import {
  badge, bytes, confirmButton, field, form, input, items, run, section, table, value,
} from '../pageparts.js';

const POLL_MS = 1000;
const BUSY = new Set(['pending', 'indexing']);

export async function render(root, params, ctx) {
  const state = {
    folderId: params.folderId, folders: [], files: [], timer: null, gone: false, drawn: null, rows: new Map(),
  };
  const folderNav = h('nav', { class: 'folders', 'aria-label': 'Folders' });
  const filesBox = h('div', { class: 'files' });
  const uploads = h('ul', { class: 'uploads', 'aria-label': 'Uploads' });
  const storage = storageLine();

  async function loadFolders() {
    state.folders = items(await api('/api/library/folders?limit=500&sort=name'), 'folders');
    drawFolders();
  }

  async function loadFiles() {
    const query = new URLSearchParams({ limit: '500', sort: '-createdAt' });
    if (state.folderId) query.set('folderId', state.folderId);
    state.files = items(await api(`/api/library/files?${query}`), 'files');
    drawFiles();
    schedule();
  }

  function schedule() {
    clearTimeout(state.timer);
    if (state.gone || !state.files.some((f) => BUSY.has(f.status))) return;
    state.timer = setTimeout(() => loadFiles().catch((err) => notify(err.message)), POLL_MS);
  }

  function drawFolders() {
    const link = (id, name) => h('a', {
      href: id ? `#/library/${id}` : '#/library',
      'aria-current': (state.folderId || null) === id ? 'page' : false,
    }, name);
    folderNav.replaceChildren(
      h('ul', {}, h('li', {}, link(null, 'All files')),
        state.folders.map((f) => h('li', {}, link(f.id, f.name)))),
      form({ 'aria-label': 'New folder' }, async (node) => {
        const made = await api('/api/library/folders', { method: 'POST', body: { name: value(node, 'name') } });
        node.reset();
        ctx.navigate(`#/library/${made.id}`);
      }, field('New folder', input('name', { required: true, maxlength: 300 })),
      h('button', { type: 'submit' }, 'Add folder')));
  }

  function statusCell(file) {
    const parts = [badge(file.status)];
    if (BUSY.has(file.status)) {
      parts.push(h('progress', { max: 1, value: file.progress || 0, 'aria-label': `Indexing ${file.name}` }));
    }
    if (file.status === 'failed' && file.error) parts.push(h('small', { class: 'error' }, file.error));
    return h('span', { class: 'status' }, parts);
  }

  function drawFiles() {
    const ids = state.files.map((f) => f.id).join();
    if (ids && ids === state.drawn) {
      for (const file of state.files) state.rows.get(file.id).update(file);
      return;
    }
    state.drawn = ids;
    state.rows = new Map();
    const rows = state.files.map((file) => {
      const status = h('span', {});
      const chunks = h('span', {});
      const update = (f) => {
        status.replaceChildren(statusCell(f));
        chunks.textContent = String(f.status === 'indexed' ? f.chunkCount : f.chunksIndexed);
      };
      update(file);
      state.rows.set(file.id, { update });
      return [
        h('span', { class: 'what' }, h('a', { href: `#/files/${file.id}` }, file.name), preview(file)),
        file.fileType, bytes(file.size), status, chunks, when(file.createdAt),
        h('span', { class: 'actions' },
          h('button', { type: 'button', onclick: (e) => run(e.currentTarget, async () => {
            await api(`/api/library/files/${file.id}/_reindex`, { method: 'POST' });
            await loadFiles();
          }, 'Indexing again.') }, 'Reindex'),
          confirmButton('Delete', `Delete ${file.name}?`, async () => {
            await api(`/api/library/files/${file.id}`, { method: 'DELETE' });
            await Promise.all([loadFiles(), storage.load()]);
          })),
      ];
    });
    filesBox.replaceChildren(table('Files',
      ['Name', 'Type', 'Size', 'Status', 'Chunks', 'Uploaded', ''], rows, 'No files here yet: upload some.'));
  }

  function folderTools() {
    const folder = state.folders.find((f) => f.id === state.folderId);
    if (!folder) return null;
    return h('div', { class: 'folder-tools' },
      form({ 'aria-label': 'Rename folder' }, async (node) => {
        await api(`/api/library/folders/${folder.id}`, { method: 'PATCH', body: { name: value(node, 'name') } });
        await loadFolders();
        heading.textContent = value(node, 'name');
      }, field('Folder name', input('name', { required: true, value: folder.name, maxlength: 300 })),
      h('button', { type: 'submit' }, 'Rename')),
      confirmButton('Delete folder', 'Delete this empty folder?', async () => {
        await api(`/api/library/folders/${folder.id}`, { method: 'DELETE' });
        ctx.navigate('#/library');
      }));
  }

  const picker = input('files', { type: 'file', multiple: true, required: true });
  const uploadForm = form({ 'aria-label': 'Upload files' }, async () => {
    const chosen = [...picker.files];
    picker.value = '';
    const results = await Promise.all(chosen.map((file) => upload(file, state.folderId, uploads)));
    if (results.some(Boolean)) await Promise.all([loadFiles(), storage.load()]);
  }, field('Files to upload', picker, 'PDF, Word, Excel, Markdown, HTML, CSV, JSON or text.'),
  h('button', { type: 'submit', class: 'primary' }, 'Upload'));

  await loadFolders();
  const current = state.folders.find((f) => f.id === state.folderId);
  if (state.folderId && !current) {
    root.replaceChildren(h('p', { class: 'error', role: 'alert' }, 'That folder does not exist or is not yours.'));
    return null;
  }
  const heading = h('h1', { class: 'page-title' }, current ? current.name : 'Library');
  root.replaceChildren(h('div', { class: 'library' },
    h('aside', {}, folderNav),
    h('div', { class: 'library-main' }, heading, folderTools(),
      section('Upload', storage.node, uploadForm, uploads), section('Files', filesBox))));
  await Promise.all([loadFiles(), storage.load()]);
  return () => { state.gone = true; clearTimeout(state.timer); };
}

/** The first passages of a file, fetched when the reader opens the preview. */
function preview(file) {
  const body = h('ol', { class: 'chunks preview' });
  const box = h('details', { ontoggle: async () => {
    if (!box.open || body.childElementCount) return;
    try {
      const found = items(await api(`/api/library/files/${file.id}/chunks?limit=3`), 'chunks');
      body.replaceChildren(...(found.length
        ? found.map((c) => h('li', { class: 'chunk' }, h('p', { class: 'chunk-text' }, c.text)))
        : [h('li', { class: 'muted' }, 'No passages yet.')]));
    } catch (err) {
      body.replaceChildren(h('li', { class: 'error' }, err.message));
    }
  } }, h('summary', {}, 'Preview'), body);
  return box;
}

/** Upload one file with XMLHttpRequest so its progress bar moves; resolves true when stored. */
function upload(file, folderId, list) {
  const bar = h('progress', { max: 1, value: 0, 'aria-label': `Uploading ${file.name}` });
  const status = h('span', { class: 'muted' }, 'uploading…');
  const row = h('li', {}, h('span', { class: 'name' }, file.name), bar, status);
  list.prepend(row);
  const data = new FormData();
  data.append('files', file, file.name);
  if (folderId) data.append('folderId', folderId);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/library/files');
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) bar.value = event.loaded / event.total;
    });
    xhr.addEventListener('load', () => {
      const ok = xhr.status >= 200 && xhr.status < 300;
      bar.value = ok ? 1 : bar.value;
      status.textContent = ok ? 'uploaded' : ((xhr.response && xhr.response.message) || `failed (${xhr.status})`);
      status.className = ok ? 'ok' : 'error';
      resolve(ok);
    });
    xhr.addEventListener('error', () => {
      status.textContent = 'the upload failed: check the connection and try again';
      status.className = 'error';
      resolve(false);
    });
    xhr.send(data);
  });
}
