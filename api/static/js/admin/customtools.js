// @ts-check
// Admin: custom HTTP toolkits — create an empty one (tools added through the API), or import an
// OpenAPI 3 document by URL or pasted (POST /api/toolkits/_import-openapi), one tool per operation.
import { h } from '../dom.js';
import { api } from '../http.js';
import { field, form, input, value } from '../pageparts.js';

export function customToolkits(reload) {
  const outcome = h('p', { class: 'muted', role: 'status' });
  const create = form({ 'aria-label': 'New custom toolkit' }, async (node) => {
    const made = await api('/api/toolkits', { method: 'POST', body: {
      name: node.elements.name.value.trim(), kind: 'custom', url: value(node, 'url'),
      description: node.elements.description.value.trim(), shared: node.elements.shared.checked,
    } });
    outcome.textContent = `Created ${made.name}: add its tools with POST /api/toolkits/${made.id}/tools.`;
    node.reset();
    await reload();
  },
  field('Custom toolkit name', input('name', { required: true, maxlength: 200 })),
  field('Base URL', input('url', { type: 'url', placeholder: 'https://api.example.com/v1' }),
    'Optional: tools whose URL is a path go under it.'),
  field('Description', input('description', { maxlength: 2000 })),
  h('label', { class: 'field check' }, input('shared', { type: 'checkbox' }), 'Shared with everyone'),
  h('button', { type: 'submit', class: 'primary' }, 'Add custom toolkit'));
  const imported = form({ 'aria-label': 'Import OpenAPI' }, async (node) => {
    const url = value(node, 'url');
    const documentText = value(node, 'document');
    const body = { url, document: url ? null : documentText, baseUrl: value(node, 'baseUrl'),
      name: value(node, 'name'), shared: node.elements.shared.checked };
    const made = await api('/api/toolkits/_import-openapi', { method: 'POST', body });
    const tools = await api(`/api/toolkits/${made.id}/tools`);
    outcome.textContent = `Imported ${made.name}: ${tools.total} tool${tools.total === 1 ? '' : 's'}.`;
    node.reset();
    await reload();
  },
  field('OpenAPI URL', input('url', { type: 'url', placeholder: 'https://api.example.com/openapi.json' }),
    'Fetched by the server through the address guard.'),
  field('Or the document', h('textarea', { name: 'document', rows: 4, maxlength: 1000000,
    placeholder: 'openapi: 3.1.0 … (JSON or YAML)' })),
  field('Name', input('name', { maxlength: 200, placeholder: 'the document’s title' })),
  field('Base URL', input('baseUrl', { type: 'url', placeholder: 'the document’s servers[0]' })),
  h('label', { class: 'field check' }, input('shared', { type: 'checkbox' }), 'Shared with everyone'),
  h('button', { type: 'submit' }, 'Import OpenAPI'));
  return h('div', {}, create, imported, outcome);
}
