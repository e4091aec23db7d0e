// @ts-check
// Admin: models and providers as configured (models.yaml and those added here), with forms to add.
import { h } from '../dom.js';
import { api } from '../http.js';
import {
  badge, confirmButton, field, form, input, items, run, section, select, table, value,
} from '../pageparts.js';

const TYPES = [
  'openai', 'openai-compatible', 'anthropic', 'azure', 'ollama', 'gemini', 'mistral', 'groq', 'deepseek',
  'openrouter', 'together_ai', 'fireworks_ai', 'xai', 'cohere', 'hosted_vllm',
];

export async function models(root) {
  const modelsBox = h('div', {});
  const providersBox = h('div', {});
  const addModel = h('div', {});
  async function load() {
    const [modelList, providerList] = await Promise.all([api('/api/models'), api('/api/providers')]);
    const found = items(modelList, 'models');
    const providers = items(providerList, 'providers');
    modelsBox.replaceChildren(table('Models', ['Name', 'Source', 'Providers', 'Available', 'Price per 1M tokens (in / out)', ''],
      found.map((m) => [
        h('span', {}, m.name, m.isDefault ? h('small', { class: 'muted' }, ' (default)') : null,
          m.aliases.length ? h('small', { class: 'muted' }, ` aka ${m.aliases.join(', ')}`) : null),
        m.source, m.providers.join(', '),
        m.available ? badge('available', 'active') : h('span', {}, badge('unavailable', 'failed'), ' ', m.unavailableReason || ''),
        m.inputCostPerMillionTokens === null ? '—' : `$${m.inputCostPerMillionTokens} / $${m.outputCostPerMillionTokens}`,
        m.source === 'database' ? modelActions(m, load) : h('small', { class: 'muted' }, 'models.yaml'),
      ])));
    providersBox.replaceChildren(table('Providers', ['Name', 'Type', 'Source', 'Set up', 'Models', ''],
      providers.map((p) => [
        p.name, p.type, p.source,
        p.source === 'file'
          ? (p.configured ? badge('configured', 'active') : h('span', {}, badge('missing settings', 'failed'), ' ', (p.missingSettings || []).join(', ')))
          : (p.hasApiKey ? badge('key stored', 'active') : badge('no key', 'pending')),
        (p.models || []).join(', '),
        p.source === 'database' ? providerActions(p, load) : h('small', { class: 'muted' }, 'models.yaml'),
      ])));
    const stored = providers.filter((p) => p.source === 'database');
    addModel.replaceChildren(stored.length ? modelForm(stored, load)
      : h('p', { class: 'muted' }, 'Add a provider first; models added here are served through it.'));
  }
  root.replaceChildren(section('Models', modelsBox), section('Providers', providersBox),
    section('New provider', providerForm(load)), section('New model', addModel));
  await load();
}

function modelActions(model, reload) {
  const path = `/api/models/${encodeURIComponent(model.name)}`;
  const toggle = h('button', { type: 'button', onclick: () => run(toggle, async () => {
    await api(path, { method: 'PATCH', body: { enabled: !model.enabled } });
    await reload();
  }) }, `${model.enabled ? 'Disable' : 'Enable'} ${model.name}`);
  return h('span', { class: 'actions' }, toggle, confirmButton('Delete', `Delete model ${model.name}?`, async () => {
    await api(path, { method: 'DELETE' });
    await reload();
  }));
}

function providerActions(provider, reload) {
  const test = h('button', { type: 'button', onclick: () => run(test, async () => {
    const result = await api(`/api/providers/${provider.id}/_test`, { method: 'POST', body: {} });
    outcome.textContent = result.ok ? `works (${result.latencyMs} ms)` : `failed: ${result.reason}`;
  }) }, `Test ${provider.name}`);
  const outcome = h('small', { class: 'muted', role: 'status' });
  const rekey = h('div', {});
  const replace = h('button', { type: 'button', onclick: () => {
    rekey.replaceChildren(form({ 'aria-label': `New key for ${provider.name}` }, async (node) => {
      await api(`/api/providers/${provider.id}`, { method: 'PATCH', body: { apiKey: node.elements.apiKey.value } });
      await reload();
    }, field(`New key for ${provider.name}`, input('apiKey', { type: 'password', required: true, autocomplete: 'off' })),
    h('button', { type: 'submit' }, 'Save key')));
    rekey.querySelector('input').focus();
  } }, `Replace key of ${provider.name}`);
  return h('span', { class: 'actions' }, test, outcome, replace,
    confirmButton('Delete', `Delete provider ${provider.name}?`, async () => {
      await api(`/api/providers/${provider.id}`, { method: 'DELETE' });
      await reload();
    }), rekey);
}

function providerForm(reload) {
  const fields = {
    api_base: field('API base URL', input('apiBase', { type: 'url', placeholder: 'https://…' })),
    api_version: field('API version', input('apiVersion', { maxlength: 50 })),
    api_key: field('API key', input('apiKey', { type: 'password', autocomplete: 'off' }), 'Stored encrypted; never shown again.'),
  };
  const help = h('small', { class: 'muted', role: 'status' });
  const node = form({ 'aria-label': 'New provider' }, async (submitted) => {
    await api('/api/providers', { method: 'POST', body: {
      name: value(submitted, 'name'), type: submitted.elements.type.value,
      apiBase: value(submitted, 'apiBase'), apiVersion: value(submitted, 'apiVersion'), apiKey: value(submitted, 'apiKey'),
    } });
    submitted.reset();
    await reload();
  },
  field('Provider name', input('name', { required: true, maxlength: 200 })),
  field('Type', select('type', TYPES.map((t) => [t, t]), 'openai-compatible')), help,
  fields.api_base, fields.api_version, fields.api_key,
  h('button', { type: 'submit', class: 'primary' }, 'Add provider'));
  // The fields each type needs come from GET /api/provider-types (LiteLLM's list and our table).
  api('/api/provider-types').then((body) => {
    const types = items(body, 'providerTypes').filter((t) => t.storable);
    if (!types.length) return;
    const chosen = node.elements.type;
    chosen.replaceWith(select('type', types.map((t) => [t.id, t.name]), 'openai-compatible'));
    const show = () => {
      const kind = types.find((t) => t.id === node.elements.type.value);
      const needs = Object.fromEntries((kind ? kind.fields : []).map((f) => [f.param, f]));
      for (const [param, label] of Object.entries(fields)) {
        const wanted = needs[param];
        label.hidden = !wanted;
        const control = label.querySelector('input');
        control.required = Boolean(wanted && wanted.required && param !== 'api_key');
        control.placeholder = (wanted && wanted.default) || (param === 'api_base' ? 'https://…' : '');
      }
      help.textContent = kind ? kind.fields.map((f) => `${f.label}${f.required ? '' : ' (optional)'}`).join(' · ') : '';
    };
    node.elements.type.addEventListener('change', show);
    node.addEventListener('reset', () => queueMicrotask(show));
    show();
  }).catch(() => null); // the static list of types stays
  return node;
}

function modelForm(providers, reload) {
  const price = (name) => input(name, { type: 'number', min: 0, step: 'any' });
  return form({ 'aria-label': 'New model' }, async (node) => {
    const number = (name) => (value(node, name) === null ? null : Number(value(node, name)));
    await api('/api/models', { method: 'POST', body: {
      name: value(node, 'name'), providerId: node.elements.providerId.value, model: value(node, 'model'),
      inputCostPerMillionTokens: number('inputPrice'), outputCostPerMillionTokens: number('outputPrice'),
      contextWindow: number('contextWindow'),
    } });
    node.reset();
    await reload();
  },
  field('Model name', input('name', { required: true })),
  field('Provider', select('providerId', providers.map((p) => [p.id, p.name]))),
  field('Provider model id', input('model', { required: true })),
  field('Input $ / 1M tokens', price('inputPrice')),
  field('Output $ / 1M tokens', price('outputPrice')),
  field('Context window', input('contextWindow', { type: 'number', min: 1 })),
  h('button', { type: 'submit', class: 'primary' }, 'Add model'));
}
