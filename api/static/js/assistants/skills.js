// @ts-check
// An assistant's skills: list, add, edit, delete, import a SKILL.md (or zip), export as a zip.
import { h } from '../dom.js';
import { api } from '../http.js';
import { confirmButton, field, form, input, items, section, value } from '../pageparts.js';

export async function skillsSection(assistantId, canEdit) {
  const base = `/api/assistants/${assistantId}/skills`;
  const list = h('ul', { class: 'item-list', 'aria-label': 'Skills' });
  const box = section('Skills', list);

  async function load() {
    const found = items(await api(base), 'skills');
    list.replaceChildren(...found.map((skill) => skillItem(skill)));
    if (!found.length) list.replaceChildren(h('li', { class: 'muted' }, 'No skills yet. People use a skill by starting a message with /name.'));
  }

  function skillItem(skill) {
    const editing = h('div', {});
    /** @type {HTMLElement[]} */
    const buttons = [h('a', { class: 'button', href: skill._links.export.href, download: `${skill.name}.zip` }, `Export ${skill.name}`)];
    if (canEdit) {
      buttons.push(h('button', { type: 'button', onclick: () => {
        editing.replaceChildren(skillForm(skill, async (body) => {
          await api(`${base}/${skill.id}`, { method: 'PATCH', body });
          await load();
        }));
        editing.querySelector('input').focus();
      } }, `Edit ${skill.name}`), confirmButton('Delete', `Delete the skill ${skill.name}?`, async () => {
        await api(`${base}/${skill.id}`, { method: 'DELETE' });
        await load();
      }));
    }
    return h('li', {},
      h('span', { class: 'what' }, h('strong', {}, `/${skill.name}`), h('small', { class: 'muted' }, skill.description)),
      h('span', { class: 'actions' }, buttons), editing);
  }

  if (canEdit) {
    const picker = input('file', { type: 'file', accept: '.md,.zip', required: true });
    box.append(
      h('h3', {}, 'New skill'),
      skillForm(null, async (body) => {
        await api(base, { method: 'POST', body });
        await load();
      }),
      form({ 'aria-label': 'Import a skill' }, async (node) => {
        const data = new FormData();
        data.append('file', picker.files[0]);
        await api(`${base}/_import`, { method: 'POST', body: data });
        node.reset();
        await load();
      }, field('SKILL.md or zip', picker), h('button', { type: 'submit' }, 'Import skill')));
  }
  await load();
  return box;
}

function skillForm(skill, save) {
  const node = form({ 'aria-label': skill ? `Edit skill ${skill.name}` : 'New skill', class: 'form-row stacked' }, async () => {
    const controls = /** @type {any} */ (node.elements);
    await save({
      name: value(node, 'name'), description: controls.description.value,
      instructions: controls.instructions.value,
    });
    if (!skill) node.reset();
  },
  field('Skill name', input('name', { required: true, pattern: '[a-z0-9][a-z0-9_\\-]{0,63}', value: skill ? skill.name : '' }),
    'Lower-case letters, digits, - and _.'),
  field('Skill description', input('description', { value: skill ? skill.description : '', maxlength: 2000 })),
  field('Skill instructions', h('textarea', { name: 'instructions', rows: 5 }, skill ? skill.instructions : '')),
  h('p', {}, h('button', { type: 'submit' }, skill ? 'Save skill' : 'Add skill')));
  return node;
}
