// @ts-check
// Account: change your own password (the current one is checked; your other sessions end).
import { h, notify } from '../dom.js';
import { api } from '../http.js';
import { field, form, section } from '../pageparts.js';

export function passwordPanel() {
  const current = h('input', { name: 'currentPassword', type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { name: 'newPassword', type: 'password', autocomplete: 'new-password', required: true, minlength: 12 });
  const keep = h('input', { name: 'keepApiTokens', type: 'checkbox', checked: true });
  const node = section('Password',
    h('p', { class: 'muted' }, 'Changing your password signs you out everywhere else.'),
    form({ 'aria-label': 'Change password' }, async () => {
      await api('/api/me/password', { method: 'POST', body: {
        currentPassword: current.value, newPassword: next.value, keepApiTokens: keep.checked } });
      current.value = '';
      next.value = '';
      notify('Password changed; your other sessions ended.', 'ok');
    },
    field('Current password', current),
    field('New password', next, '12 characters or more, not a common one.'),
    h('label', { class: 'check' }, keep, ' Keep my API tokens working'),
    h('button', { type: 'submit', class: 'primary' }, 'Change password')));
  return { node, load: async () => {} };
}
