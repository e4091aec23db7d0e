// @ts-check
// Small building blocks shared by the assistants, library, file and admin pages.
// Everything goes through h(), so text from the API is always text.
import { h, notify } from './dom.js';

/** The items of a HAL collection. */
export function items(body, name) {
  return (body && body._embedded && body._embedded[name]) || [];
}

/** A labelled form control; the label wraps the control so screen readers and tests find it. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), control, hint ? h('small', { class: 'muted' }, hint) : null);
}

export function input(name, attrs = {}) {
  return h('input', { name, ...attrs });
}

/** A <select> of [value, label] pairs. */
export function select(name, options, value, attrs = {}) {
  return h('select', { name, ...attrs },
    options.map(([v, label]) => h('option', { value: v, defaultSelected: v === value }, label)));
}

/** A table with a caption (its accessible name), header cells and rows of cells. */
export function table(caption, headers, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'grid' },
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', {}, h('tr', {}, headers.map((title) => h('th', { scope: 'col' }, title)))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell)))))));
}

/** A titled section of a page. */
export function section(title, ...children) {
  return h('section', { class: 'panel', 'aria-label': title }, h('h2', {}, title), ...children);
}

/** Run an action for a button or form: the button is disabled meanwhile, errors become notices. */
export async function run(button, action, done) {
  if (button) button.disabled = true;
  try {
    const result = await action();
    if (done) notify(done, 'ok');
    return result;
  } catch (err) {
    notify(err.message || String(err));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** A form that calls submit(form) on submit and keeps the page from reloading. */
export function form(attrs, submit, ...children) {
  const node = h('form', { class: 'form-row', ...attrs, onsubmit: async (event) => {
    event.preventDefault();
    await run(node.querySelector('[type=submit]'), () => submit(node));
  } }, ...children);
  return node;
}

/** A delete button that asks once more in place (no modal dialogs). */
export function confirmButton(label, question, action) {
  const holder = h('span', { class: 'confirm' });
  const first = h('button', { type: 'button', class: 'danger', onclick: () => {
    const yes = h('button', { type: 'button', class: 'danger', onclick: () => run(yes, action) }, `Yes, ${label.toLowerCase()}`);
    const no = h('button', { type: 'button', onclick: () => holder.replaceChildren(first) }, 'No');
    holder.replaceChildren(h('span', {}, question), ' ', yes, ' ', no);
    yes.focus();
  } }, label);
  holder.append(first);
  return holder;
}

/** A form value trimmed; null when empty. */
export function value(node, name) {
  const control = node.elements[name];
  if (!control) return null;
  const text = control.value.trim();
  return text === '' ? null : text;
}

export function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

/** A status word as a badge (class by status, text always the word). */
export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${kind}` }, text);
}
