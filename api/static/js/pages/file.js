// @ts-check
// One library file: its details and its chunks; #/files/<id>/passages/<n> scrolls to chunk n
// (the chunk index citations point at) and highlights it.
import { h, notify } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { badge, bytes, items, run, section } from '../pageparts.js';

const PAGE = 500;
const POLL_MS = 1000;

export async function render(root, params) {
  const state = { timer: null, gone: false };
  const wanted = params.passage === null ? null : Number(params.passage);
  let file;
  try {
    file = await api(`/api/library/files/${params.fileId}`);
  } catch (err) {
    root.replaceChildren(h('p', { class: 'error', role: 'alert' },
      err.status === 404 ? 'This file does not exist or is not shared with you.' : err.message));
    return null;
  }
  const details = h('dl', { class: 'details' });
  const chunks = h('ol', { class: 'chunks', 'aria-label': 'Passages' });

  function drawDetails() {
    const rows = [
      ['Type', file.fileType], ['Size', bytes(file.size)],
      ['Status', h('span', {}, badge(file.status),
        file.status === 'pending' || file.status === 'indexing'
          ? h('progress', { max: 1, value: file.progress || 0, 'aria-label': 'Indexing' }) : null)],
      ['Passages', String(file.chunkCount)], ['Pages', file.pages === null ? '—' : String(file.pages)],
      ['Indexed', when(file.indexedAt) || '—'], ['Uploaded', when(file.createdAt)],
    ];
    if (file.error) rows.push(['Error', h('span', { class: 'error' }, file.error)]);
    details.replaceChildren(...rows.flatMap(([term, text]) => [h('dt', {}, term), h('dd', {}, text)]));
  }

  async function loadChunks() {
    const found = [];
    for (let start = 0; start < 20 * PAGE; start += PAGE) {
      const body = await api(`/api/library/files/${file.id}/chunks?start=${start}&limit=${PAGE}`);
      found.push(...items(body, 'chunks'));
      if (!body._links.next) break;
    }
    chunks.replaceChildren(...found.map((chunk) => passage(chunk, chunk.index === wanted)));
    if (!found.length) chunks.replaceChildren(h('li', { class: 'muted' }, file.status === 'indexed' ? 'No passages.' : 'Not indexed yet.'));
    const target = /** @type {HTMLElement | null} */ (chunks.querySelector('.highlight'));
    if (target) {
      target.scrollIntoView({ block: 'center' });
      target.focus({ preventScroll: true });
    } else if (wanted !== null && file.status === 'indexed') {
      notify(`Passage ${wanted} is not in this file any more (it may have been indexed again).`);
    }
  }

  async function refresh() {
    file = await api(`/api/library/files/${file.id}`);
    drawDetails();
    if (file.status === 'pending' || file.status === 'indexing') {
      state.timer = setTimeout(() => !state.gone && refresh().catch((err) => notify(err.message)), POLL_MS);
    } else {
      await loadChunks();
    }
  }

  const reindex = h('button', { type: 'button', onclick: () => run(reindex, async () => {
    await api(`/api/library/files/${file.id}/_reindex`, { method: 'POST' });
    await refresh();
  }, 'Indexing again.') }, 'Reindex');
  root.replaceChildren(h('div', { class: 'file-page' },
    h('p', {}, h('a', { href: file.folderId ? `#/library/${file.folderId}` : '#/library' }, '← Library')),
    h('h1', { class: 'page-title' }, file.name),
    h('p', { class: 'actions' },
      h('a', { href: file._links.content.href, download: file.name, class: 'button' }, 'Download'), ' ', reindex),
    section('Details', details),
    section('Passages', chunks)));
  drawDetails();
  if (file.status === 'pending' || file.status === 'indexing') await refresh();
  else await loadChunks();
  return () => { state.gone = true; clearTimeout(state.timer); };
}

function passage(chunk, highlighted) {
  const where = [];
  if (chunk.page !== null && chunk.page !== undefined) where.push(`page ${chunk.page}`);
  if (chunk.section && chunk.section.length) where.push(chunk.section.join(' › '));
  return h('li', {
    id: `passage-${chunk.index}`, class: highlighted ? 'chunk highlight' : 'chunk',
    tabindex: highlighted ? '-1' : false, 'aria-current': highlighted ? 'true' : false,
  },
  h('p', { class: 'chunk-meta muted' }, `Passage ${chunk.index}`, where.length ? ` · ${where.join(' · ')}` : ''),
  h('p', { class: 'chunk-text' }, chunk.text));
}
