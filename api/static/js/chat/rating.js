// @ts-check
// Rating an answer: Good / Bad (pressed state shows the current rating; pressing it again takes
// it back) and, after a rating, an optional comment. Those who review feedback (admins, the
// assistant's editors) see the rating with the answer's first characters.

import { h, notify } from '../dom.js';
import { api } from '../http.js';

/** The rating controls of a finished answer (`view.message` has `chatId` and `id`). */
export function ratingControls(view) {
  const m = view.message;
  const send = async (liked, feedback, label) => {
    try {
      const saved = await api(`/api/chats/${encodeURIComponent(m.chatId)}/messages/${encodeURIComponent(m.id)}`,
        { method: 'PATCH', body: feedback === undefined ? { liked } : { liked, feedback } });
      view.message.liked = saved.liked;
      view.message.feedback = saved.feedback;
      view.settle();
      if (liked !== null && feedback === undefined) view.node.append(commentForm(view, send, label));
      else refocus(view, label);
    } catch (error) {
      notify(`Your rating was not saved: ${error.message}`);
    }
  };
  const button = (liked, label, glyph) => h('button', {
    class: 'icon rate', type: 'button', 'aria-label': label, title: label,
    'aria-pressed': String(m.liked === liked),
    onclick: () => send(m.liked === liked ? null : liked, undefined, label),
  }, glyph);
  return h('span', { class: 'rating', role: 'group', 'aria-label': 'Rate this answer' },
    button(true, 'Good answer', '👍'), button(false, 'Bad answer', '👎'));
}

/** settle() draws the buttons anew: the keyboard focus goes to the new button of that name. */
function refocus(view, label) {
  view.node.querySelector(`.rating [aria-label="${label}"]`)?.focus();
}

function commentForm(view, send, label) {
  view.node.querySelector('.rating-comment')?.remove();
  const close = () => { form.remove(); refocus(view, label); };
  const box = h('input', { type: 'text', maxlength: 2000, 'aria-label': 'What could be better? (optional)',
    placeholder: 'What could be better? (optional)',
    onkeydown: (event) => { if (event.key === 'Escape') { event.preventDefault(); close(); } } });
  box.value = view.message.feedback || '';
  const form = h('form', { class: 'rating-comment row', onsubmit: async (event) => {
    event.preventDefault();
    close();
    if (box.value.trim()) await send(view.message.liked, box.value, label);
  } }, box,
  h('button', { type: 'submit' }, 'Send'),
  h('button', { type: 'button', onclick: close }, 'Skip'));
  queueMicrotask(() => box.focus());
  return form;
}
