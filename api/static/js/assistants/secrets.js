// @ts-check
// An assistant's secrets (editors only): values go in and are never shown — set, replace, delete.
import { h } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { confirmButton, field, form, input, items, section, value } from '../pageparts.js';

export async function secretsSection(assistantId) {
  const base = `/api/assistants/${assistantId}/secrets`;
  const list = h('ul', { class: 'item-list', 'aria-label': 'Secrets' });

  async function load() {
    const found = items(await api(base), 'secrets');
    list.replaceChildren(...found.map(secretItem));
    if (!found.length) list.replaceChildren(h('li', { class: 'muted' }, 'No secrets yet.'));
  }

  function secretItem(secret) {
    const replacing = h('div', {});
    const replace = h('button', { type: 'button', onclick: () => {
      replacing.replaceChildren(form({ 'aria-label': `New value for ${secret.name}` }, async (node) => {
        await api(`${base}/${encodeURIComponent(secret.name)}`, { method: 'PUT', body: { value: node.elements.value.value } });
        await load();
      }, field(`New value for ${secret.name}`, input('value', { type: 'password', required: true, autocomplete: 'off' })),
      h('button', { type: 'submit' }, 'Save value')));
      replacing.querySelector('input').focus();
    } }, `Replace ${secret.name}`);
    return h('li', {},
      h('span', { class: 'what' }, h('code', {}, secret.name),
        h('small', { class: 'muted' }, [secret.description, `set ${when(secret.updatedAt)}`,
          secret.lastUsedAt ? `last used ${when(secret.lastUsedAt)}` : 'never used'].filter(Boolean).join(' · '))),
      h('span', { class: 'actions' }, replace, confirmButton('Delete', `Delete the secret ${secret.name}?`, async () => {
        await api(`${base}/${encodeURIComponent(secret.name)}`, { method: 'DELETE' });
        await load();
      })), replacing);
  }

  const add = form({ 'aria-label': 'New secret' }, async (node) => {
    await api(base, { method: 'POST', body: {
      name: value(node, 'name'), value: node.elements.value.value, description: node.elements.description.value,
    } });
    node.reset();
    await load();
  },
  field('Secret name', input('name', { required: true, pattern: '[A-Za-z_][A-Za-z0-9_]{0,127}', autocomplete: 'off' })),
  field('Secret value', input('value', { type: 'password', required: true, autocomplete: 'off' })),
  field('What it is for', input('description', { maxlength: 2000 })),
  h('button', { type: 'submit' }, 'Add secret'));
  await load();
  return section('Secrets', h('p', { class: 'muted' }, 'Values are stored encrypted and never shown again; tools get them at call time.'), list, add);
}
