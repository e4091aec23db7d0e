// @ts-check
// Assistants: the list, a new one, and one assistant — its draft (edit, save, try in a chat,
// commit, discard), skills, secrets, knowledge and sharing (api/static/js/assistants/*).
import { h } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { badge, confirmButton, field, form, input, items, run, section, select, value } from '../pageparts.js';
import { knowledgeSection } from '../assistants/knowledge.js';
import { secretsSection } from '../assistants/secrets.js';
import { skillsSection } from '../assistants/skills.js';

const VISIBILITY = [['private', 'Only me'], ['team', 'A team'], ['instance', 'Everyone here']];
const PERMISSION = [['use', 'may use it'], ['edit', 'may use and edit it']];

export async function render(root, params, ctx) {
  if (!params.assistantId) return listPage(root, ctx);
  let assistant;
  try {
    assistant = await api(`/api/assistants/${params.assistantId}`);
  } catch (err) {
    root.replaceChildren(h('p', { class: 'error', role: 'alert' },
      err.status === 404 ? 'This assistant does not exist or is not shared with you.' : err.message));
    return null;
  }
  return detailPage(root, assistant, ctx);
}

async function listPage(root, ctx) {
  const found = items(await api('/api/assistants?limit=500&sort=name'), 'assistants');
  const create = form({ 'aria-label': 'New assistant' }, async (node) => {
    const made = await api('/api/assistants', { method: 'POST', body: {
      name: value(node, 'name'), description: value(node, 'description') || '',
    } });
    ctx.navigate(`#/assistants/${made.id}`);
  },
  field('Name', input('name', { required: true, maxlength: 200 })),
  field('Description', input('description', { maxlength: 2000 })),
  h('button', { type: 'submit', class: 'primary' }, 'Create assistant'));
  const cards = found.map((a) => h('li', {},
    h('a', { href: `#/assistants/${a.id}` }, a.name),
    a.description ? h('p', {}, a.description) : null,
    h('p', { class: 'muted' }, badge(a.visibility), ' ', a.access === 'edit' ? 'you may edit' : 'you may use', ' · ', a.model || 'default model')));
  root.replaceChildren(h('h1', { class: 'page-title' }, 'Assistants'),
    section('New assistant', create),
    section('Your assistants', cards.length ? h('ul', { class: 'cards', 'aria-label': 'Assistants' }, cards)
      : h('p', { class: 'muted' }, 'No assistants yet.')));
  return null;
}

async function detailPage(root, assistant, ctx) {
  const isDraft = Boolean(assistant.editingId);
  const canEdit = assistant.access === 'edit';
  const publishedId = assistant.editingId || assistant.id;
  const [models, toolkits, teams] = await Promise.all([
    api('/api/models').then((b) => items(b, 'models').filter((m) => m.mode !== 'embedding'))
      .catch(() => []),
    canEdit ? api('/api/toolkits?limit=500').then((b) => items(b, 'toolkits')).catch(() => []) : [],
    ctx.me.role === 'admin' ? api('/api/teams?limit=500').then((b) => items(b, 'teams')).catch(() => []) : [],
  ]);
  const actions = h('p', { class: 'actions' });
  const tryIt = h('button', { type: 'button', onclick: () => run(tryIt, async () => {
    const chat = await api('/api/chats', { method: 'POST', body: { assistantId: assistant.id } });
    ctx.navigate(`#/chat/${chat.id}`);
  }) }, isDraft ? 'Try the draft in a chat' : 'Start a chat');
  actions.append(tryIt);
  if (isDraft) {
    const commit = h('button', { type: 'button', class: 'primary', onclick: () => run(commit, async () => {
      await api(`/api/assistants/${assistant.id}/_commit`, { method: 'POST' });
      ctx.notify('The draft is published.', 'ok');
      ctx.navigate(`#/assistants/${publishedId}`);
    }) }, 'Commit draft');
    actions.append(commit, confirmButton('Discard draft', 'Throw this draft away?', async () => {
      await api(`/api/assistants/${assistant.id}`, { method: 'DELETE' });
      ctx.navigate(`#/assistants/${publishedId}`);
    }));
  } else if (canEdit) {
    const edit = h('button', { type: 'button', class: 'primary', onclick: () => run(edit, async () => {
      const draft = await api(`/api/assistants/${assistant.id}/_edit`, { method: 'POST' });
      ctx.navigate(`#/assistants/${draft.id}`);
    }) }, 'Edit as draft');
    actions.append(edit, confirmButton('Delete', `Delete ${assistant.name} with its skills, secrets and memories?`, async () => {
      await api(`/api/assistants/${assistant.id}`, { method: 'DELETE' });
      ctx.navigate('#/assistants');
    }));
  }
  const parts = [
    h('p', {}, h('a', { href: '#/assistants' }, '← Assistants')),
    h('h1', { class: 'page-title' }, assistant.name, ' ', isDraft ? badge('draft') : badge(assistant.visibility)),
    isDraft ? h('p', { class: 'draft-note' }, 'You are editing a draft. People keep using the published assistant until you commit it. ',
      h('a', { href: `#/assistants/${publishedId}` }, 'See the published one')) : null,
    actions,
    isDraft ? section('Draft', draftForm(assistant, models, toolkits, teams, ctx)) : section('About', about(assistant, toolkits)),
  ];
  parts.push(await skillsSection(publishedId, canEdit));
  if (canEdit) parts.push(await secretsSection(publishedId));
  parts.push(await knowledgeSection(publishedId, canEdit));
  root.replaceChildren(...parts.filter(Boolean));
  return null;
}

function about(a, toolkits) {
  const kitNames = new Map(toolkits.map((k) => [k.id, k.name]));
  const rows = [
    ['Description', a.description || '—'], ['Model', a.model || 'the default model'],
    ['Instructions', h('span', { class: 'pre' }, a.instructions || '—')],
    ['Temperature', a.temperature ?? 'default'], ['Max tokens', a.maxTokens ?? 'default'],
    ['Starters', a.starters.length ? a.starters.join(' · ') : '—'],
    ['Toolkits', a.toolkitIds.length ? a.toolkitIds.map((id) => kitNames.get(id) || id).join(', ') : '—'],
    ['Shared with', `${VISIBILITY.find(([v]) => v === a.visibility)[1]}, who ${PERMISSION.find(([p]) => p === a.permission)[1]}`],
    ['Updated', when(a.updatedAt)],
  ];
  return h('dl', { class: 'details' }, rows.flatMap(([term, text]) => [h('dt', {}, term), h('dd', {}, text)]));
}

function draftForm(a, models, toolkits, teams, ctx) {
  const modelSelect = select('model', [['', 'The default model'], ...models.map((m) => [m.name, m.name])], a.model || '');
  const kits = h('fieldset', { class: 'kits' }, h('legend', {}, 'Toolkits'),
    toolkits.length ? toolkits.map((k) => h('label', { class: 'field check' },
      h('input', { type: 'checkbox', name: 'toolkit', value: k.id, defaultChecked: a.toolkitIds.includes(k.id),
        disabled: k.connection?.state === 'unavailable' }), k.name,
      // a built-in this server cannot offer (web search without a search service) says why
      k.connection?.state === 'unavailable' ? h('span', { class: 'muted' }, ` (${k.connection.reason})`) : null))
      : h('p', { class: 'muted' }, 'No toolkits.'));
  const teamChoices = teams.length ? teams.map((t) => [t.id, t.name]) : ctx.me.teamIds.map((id) => [id, id]);
  const team = select('teamId', [['', '—'], ...teamChoices], a.teamId || '');
  const teamField = field('Team', team);
  const visibility = select('visibility', VISIBILITY, a.visibility);
  const showTeam = () => { teamField.hidden = visibility.value !== 'team'; };
  visibility.addEventListener('change', showTeam);
  showTeam();
  const number = (name, attrs) => input(name, { type: 'number', ...attrs });
  return form({ 'aria-label': 'Draft', class: 'form-row stacked' }, async (node) => {
    const text = (name) => node.elements[name].value;
    const num = (name) => (text(name).trim() === '' ? null : Number(text(name)));
    const body = {
      name: value(node, 'name'), description: text('description'), instructions: text('instructions'),
      model: text('model') || null, temperature: num('temperature'), maxTokens: num('maxTokens'),
      starters: text('starters').split('\n').map((line) => line.trim()).filter(Boolean),
      toolkitIds: [...node.querySelectorAll('input[name=toolkit]:checked')].map((box) => box.value),
      visibility: text('visibility'), permission: text('permission'),
    };
    if (body.visibility === 'team') body.teamId = text('teamId') || null;
    await api(`/api/assistants/${a.id}`, { method: 'PATCH', body });
    ctx.notify('Draft saved.', 'ok');
  },
  field('Name', input('name', { required: true, value: a.name, maxlength: 200 })),
  field('Description', input('description', { value: a.description, maxlength: 2000 })),
  field('Instructions', h('textarea', { name: 'instructions', rows: 8, maxlength: 100000 }, a.instructions)),
  field('Model', modelSelect),
  h('div', { class: 'form-row' },
    field('Temperature', number('temperature', { min: 0, max: 2, step: '0.1', value: a.temperature ?? '' })),
    field('Max tokens', number('maxTokens', { min: 1, value: a.maxTokens ?? '' }))),
  field('Conversation starters', h('textarea', { name: 'starters', rows: 3 }, a.starters.join('\n')), 'One a line.'),
  kits,
  h('div', { class: 'form-row' },
    field('Shared with', visibility),
    teamField,
    field('Who', select('permission', PERMISSION, a.permission))),
  h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Save draft')));
}
