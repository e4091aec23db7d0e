// @ts-check
// Server-rendered Markdown (SafeHtml) in the page: each code block gets a Copy button beside its
// language label, and what scrolls sideways (code, tables) can be reached and scrolled by keyboard.

import { h, notify } from './dom.js';

/**
 * A div.markdown holding the server's sanitised HTML, with the page's controls attached.
 * @param {import('./dom.js').SafeHtml} safe
 * @returns {HTMLDivElement}
 */
export function markdownView(safe) {
  const node = h('div', { class: 'markdown', html: safe });
  for (const block of node.querySelectorAll('.code-block')) {
    const head = block.querySelector('.code-head');
    const code = block.querySelector('pre code');
    const label = block.querySelector('.code-lang')?.textContent || 'code';
    if (!head || !code) continue;
    head.append(h('button', { type: 'button', class: 'link copy-code', 'aria-label': `Copy ${label}`,
      onclick: () => copyCode(code.textContent || '') }, 'Copy'));
  }
  for (const box of node.querySelectorAll('pre, .table-scroll')) {
    box.setAttribute('tabindex', '0');
    if (box.classList.contains('table-scroll')) {
      box.setAttribute('role', 'region');
      box.setAttribute('aria-label', 'Table');
    }
  }
  return node;
}

/** @param {string} text */
async function copyCode(text) {
  try {
    await navigator.clipboard.writeText(text);
    notify('Code copied.', 'info');
  } catch {
    notify('The browser did not allow copying; select the code and copy it by hand.');
  }
}
