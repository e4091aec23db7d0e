// @ts-check
// Building the page: h() makes elements (text from the API always becomes text, never markup),
// SafeHtml marks the one kind of HTML the page inserts, notify() shows a message at the top.

/** HTML the server produced from Markdown with api/markdown.py (sanitised); nothing else. */
export class SafeHtml {
  /** @param {string} html */
  constructor(html) { this.html = html; }
}

/**
 * What h() accepts as children: nodes, text, numbers, arrays of these (nested any deep); null,
 * undefined and false are skipped.
 * @typedef {Node | string | number | boolean | null | undefined | any[]} Child
 */

/**
 * Build an element: h('button', {class: 'x', onclick: fn}, 'text', otherNode).
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'html') {
      if (!(value instanceof SafeHtml)) throw new TypeError('html must be server-rendered SafeHtml');
      node.innerHTML = value.html;
    } else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key in node && typeof value !== 'string') /** @type {any} */ (node)[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

/**
 * @param {HTMLElement} node
 * @param {Child[]} children
 */
function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/**
 * A short message at the top of the page; errors carry what the user should do.
 * @param {string} message
 * @param {string} [kind] 'error' (stays until dismissed) or another kind such as 'ok' (goes after 4 s)
 */
export function notify(message, kind = 'error') {
  const bar = document.getElementById('notices') || document.body;
  const item = h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', {}, message),
    h('button', { class: 'icon', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  bar.append(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 4000);
}
