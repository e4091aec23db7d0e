// @ts-check
// Search everywhere, under the chat list's search box: messages, assistants, library files,
// toolkits and jobs that hold the words (GET /api/search), with the matched words marked.

import { h } from '../dom.js';
import { api } from '../http.js';

const ENTITIES = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#x27;': "'" };
const KINDS = { message: 'Message', assistant: 'Assistant', file: 'File', toolkit: 'Toolkit', job: 'Job' };

/**
 * The snippet as nodes: the server escapes the text and marks the matched words with <mark>;
 * the page never parses it as HTML, it splits at the marks and decodes the five entities.
 * @param {string} snippet
 */
export function marked(snippet) {
  return snippet.split(/(<\/?mark>)/).reduce((state, piece) => {
    if (piece === '<mark>') state.inside = true;
    else if (piece === '</mark>') state.inside = false;
    else if (piece) {
      const text = piece.replace(/&(lt|gt|amp|quot|#x27);/g, (entity) => ENTITIES[entity]);
      state.nodes.push(state.inside ? h('mark', {}, text) : text);
    }
    return state;
  }, { inside: false, nodes: /** @type {any[]} */ ([]) }).nodes;
}

/** Where a hit opens in the page. */
function pageLink(hit) {
  if (hit.type === 'message') return `#/chat/${hit.chatId}`;
  if (hit.type === 'assistant') return `#/assistants/${hit.id}`;
  if (hit.type === 'file') return `#/files/${hit.id}`;
  return null;
}

/** The results list; `show(q)` searches (chats themselves are the list above it). */
export class Everywhere {
  constructor() {
    this.list = h('ul', { class: 'chat-list search-everywhere', 'aria-label': 'Found everywhere' });
    this.node = h('section', { hidden: true }, h('small', { class: 'muted' }, 'Everywhere'), this.list);
    this.asked = 0;
  }

  /** @param {string} q */
  async show(q) {
    const ticket = ++this.asked;
    if (!q) { this.node.hidden = true; return; }
    const params = new URLSearchParams({ q, types: 'messages,assistants,files,toolkits,jobs', limit: '10' });
    let hits = [];
    try {
      hits = (await api(`/api/search?${params}`))._embedded?.results || [];
    } catch { hits = []; }
    if (ticket !== this.asked) return; // a newer search is coming
    this.list.replaceChildren(...hits.map((hit) => {
      const href = pageLink(hit);
      const title = h('span', { class: 'chat-title' }, `${KINDS[hit.type] || hit.type}: ${hit.title}`);
      return h('li', {}, href ? h('a', { href, class: 'chat-link' }, title) : title,
        h('small', { class: 'snippet muted' }, marked(hit.snippet)));
    }));
    this.node.hidden = !hits.length;
  }
}
