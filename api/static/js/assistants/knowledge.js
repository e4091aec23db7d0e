// @ts-check
// An assistant's knowledge: library files and folders attached to it (its answers cite them).
import { h } from '../dom.js';
import { api } from '../http.js';
import { confirmButton, field, form, items, section, select } from '../pageparts.js';

export async function knowledgeSection(assistantId, canEdit) {
  const base = `/api/assistants/${assistantId}/knowledge`;
  const list = h('ul', { class: 'item-list', 'aria-label': 'Knowledge' });
  const attach = h('div', {});

  async function load() {
    const [attached, uploaded] = await Promise.all([api(base), api(`/api/assistants/${assistantId}/files`)]);
    const rows = [...items(attached, 'knowledge'), ...items(uploaded, 'files')];
    list.replaceChildren(...rows.map(itemRow));
    if (!rows.length) list.replaceChildren(h('li', { class: 'muted' }, 'No knowledge attached.'));
    if (canEdit) await drawAttach(new Set(rows.map((r) => r.fileId || r.folderId)));
  }

  function itemRow(item) {
    const link = item.fileId
      ? h('a', { href: `#/files/${item.fileId}` }, item.name)
      : h('a', { href: `#/library/${item.folderId}` }, item.name);
    const kind = item.uploaded ? 'uploaded file' : item.fileId ? 'file' : 'folder';
    let detach = null;
    if (canEdit && item.uploaded) {
      detach = confirmButton('Delete', `Delete ${item.name} from the assistant and the library?`, async () => {
        await api(`/api/assistants/${assistantId}/files/${item.id}`, { method: 'DELETE' });
        await load();
      });
    } else if (canEdit) {
      detach = confirmButton('Detach', `Detach ${item.name}? It stays in the library.`, async () => {
        await api(`${base}/${item.id}`, { method: 'DELETE' });
        await load();
      });
    }
    return h('li', {}, h('span', { class: 'what' }, link, h('small', { class: 'muted' }, kind)), detach);
  }

  async function drawAttach(already) {
    const [files, folders] = await Promise.all([
      api('/api/library/files?limit=500&sort=name').then((b) => items(b, 'files')),
      api('/api/library/folders?limit=500').then((b) => items(b, 'folders')),
    ]);
    const choices = [
      ...folders.filter((f) => !already.has(f.id)).map((f) => [`folder:${f.id}`, `Folder: ${f.name}`]),
      ...files.filter((f) => !already.has(f.id)).map((f) => [`file:${f.id}`, f.name]),
    ];
    if (!choices.length) {
      attach.replaceChildren(h('p', { class: 'muted' }, 'Everything in your library is attached, or it is empty: ',
        h('a', { href: '#/library' }, 'upload files')));
      return;
    }
    attach.replaceChildren(form({ 'aria-label': 'Attach knowledge' }, async (node) => {
      const [kind, id] = node.elements.choice.value.split(':');
      const body = kind === 'file' ? { fileIds: [id] } : { folderIds: [id] };
      await api(base, { method: 'POST', body });
      await load();
    }, field('Library file or folder', select('choice', choices)), h('button', { type: 'submit' }, 'Attach')));
  }

  await load();
  if (!canEdit) return section('Knowledge', list);
  const picker = h('input', { type: 'file', name: 'files', multiple: true, required: true });
  const upload = form({ 'aria-label': 'Upload files to the assistant' }, async (node) => {
    const data = new FormData();
    for (const file of picker.files) data.append('files', file, file.name);
    await api(`/api/assistants/${assistantId}/files`, { method: 'POST', body: data });
    node.reset();
    await load();
  }, field('Files for this assistant only', picker), h('button', { type: 'submit' }, 'Upload to assistant'));
  return section('Knowledge', list, attach, upload);
}
