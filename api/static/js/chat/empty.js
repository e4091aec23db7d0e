// @ts-check
// What an empty chat shows: what one can do here, instead of a blank page.

import { h } from '../dom.js';

/**
 * @param {{assistant?: string}} chosen
 * @returns {HTMLElement}
 */
export function emptyState({ assistant }) {
  return h('section', { class: 'empty-state', 'aria-labelledby': 'empty-state-title' },
    h('h2', { id: 'empty-state-title' }, 'Start a chat'),
    assistant ? h('p', { class: 'muted' }, `You are talking to ${assistant}.`) : null,
    h('ul', {},
      h('li', {}, 'Type a question or a task in the message box below and press Enter.'),
      h('li', {}, 'Pick another model above: what it can do and its price show beside it.'),
      h('li', {}, 'Choose an assistant for its instructions, knowledge and tools.'),
      h('li', {}, 'Press ', h('kbd', {}, '?'), ' for keyboard shortcuts.')));
}
