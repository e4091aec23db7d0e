// @ts-check
// The actions under an answer besides copy, rating and regenerate: Edit (correct the answer's
// text in place: an inline editor, Save / Cancel, Esc cancels), Branch (a new chat holding the
// conversation up to this answer) and Continue (the last answer goes on where it stopped).

import { h } from '../dom.js';

/**
 * Edit and Branch for an answer (`view` is a MessageView; `a` its page's actions).
 * @param {any} view
 * @param {any} a
 */
export function answerButtons(view, a) {
  const m = view.message;
  const out = [];
  if (!m.id || view.streaming) return out;
  if (a.correct) {
    out.push(h('button', { class: 'link edit-answer', type: 'button', 'aria-label': 'Edit this answer',
      onclick: () => editAnswer(view, (text) => a.correct(view, text)) }, 'Edit'));
  }
  if (a.fork) {
    out.push(h('button', { class: 'link', type: 'button', 'aria-label': 'Branch off into a new chat',
      title: 'A new chat with the conversation up to this answer', onclick: () => a.fork(view) }, 'Branch'));
  }
  return out;
}

/**
 * Continue, for the conversation's last answer (none otherwise).
 * @param {any} view
 * @param {any} a
 */
export function continueButton(view, a) {
  if (!view.message.id || view.streaming || !a.continueAnswer || !a.isLast(view)) return [];
  return [h('button', { class: 'link', type: 'button', 'aria-label': 'Continue this answer',
    title: 'The model goes on where this answer stopped', onclick: () => a.continueAnswer(view) }, 'Continue')];
}

/**
 * Swap the answer's text for an editor; `save(text)` stores it (and re-shows the chat).
 * @param {any} view
 * @param {(text: string) => Promise<unknown>} save
 */
export function editAnswer(view, save) {
  const box = h('textarea', { class: 'edit-box', 'aria-label': 'Edit this answer',
    rows: Math.min(20, (view.message.content || '').split('\n').length + 1) });
  box.value = view.message.content || '';
  const status = h('span', { class: 'muted', role: 'status' });
  const saveButton = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const cancel = () => {
    form.replaceWith(view.body);
    view.buttons.hidden = false;
    view.buttons.querySelector('.edit-answer')?.focus();
  };
  const form = h('form', {
    class: 'edit-form answer-edit', 'aria-label': 'Edit this answer',
    onkeydown: (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        cancel();
      }
    },
    onsubmit: async (event) => {
      event.preventDefault();
      if (!box.value.trim()) {
        status.textContent = 'An answer cannot be empty.';
        return;
      }
      saveButton.disabled = true;
      status.textContent = 'Saving…';
      try {
        await save(box.value);
      } catch (err) {
        status.textContent = `Not saved: ${err.message}`;
        saveButton.disabled = false;
      }
    },
  }, box, h('div', { class: 'row' }, saveButton,
    h('button', { type: 'button', onclick: cancel }, 'Cancel'), status));
  view.body.replaceWith(form);
  view.buttons.hidden = true;
  box.focus();
}
