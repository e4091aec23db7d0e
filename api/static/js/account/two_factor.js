// @ts-check
// Account: two-factor sign-in with an authenticator app: set up, recovery codes, turn off.
import { h, notify } from '../dom.js';
import { api } from '../http.js';
import { field, form, section } from '../pageparts.js';
import { enrolmentHelp, recoveryCodes } from '../sign_in_code.js';

export function twoFactorPanel() {
  const body = h('div', {});
  const node = section('Two-factor sign-in', body);

  async function load() {
    const status = await api('/api/users/me/two-factor');
    if (status.enabled) body.replaceChildren(enabledView(status));
    else body.replaceChildren(
      h('p', {}, status.required
        ? 'Two-factor sign-in is required for your account; set it up now.'
        : 'Off. Add an authenticator app so signing in needs a code from your phone too.'),
      h('button', { type: 'button', class: 'primary', onclick: enrol }, 'Set up two-factor sign-in'));
  }

  async function enrol() {
    const enrolment = await api('/api/users/me/two-factor/_enrol', { method: 'POST' });
    const code = h('input', { name: 'code', autocomplete: 'one-time-code', inputmode: 'numeric', required: true });
    body.replaceChildren(...enrolmentHelp(enrolment.secret, enrolment.otpauthUri),
      form({ 'aria-label': 'Confirm two-factor sign-in' }, async () => {
        const made = await api('/api/users/me/two-factor/_confirm', { method: 'POST', body: { code: code.value.trim() } });
        body.replaceChildren(h('p', {}, 'Two-factor sign-in is on.'), ...recoveryCodes(made.recoveryCodes),
          h('button', { type: 'button', onclick: load }, 'Done'));
      }, field('Code from the app', code), h('button', { type: 'submit', class: 'primary' }, 'Turn on')));
    code.focus();
  }

  /** @param {any} status */
  function enabledView(status) {
    const proof = h('input', { name: 'proof', type: 'password', autocomplete: 'off', required: true });
    const fresh = h('input', { name: 'code', autocomplete: 'one-time-code', inputmode: 'numeric', required: true });
    const codes = h('div', {});
    return h('div', {},
      h('p', {}, `On. ${status.recoveryCodesLeft} recovery codes left.`),
      form({ 'aria-label': 'New recovery codes' }, async () => {
        const made = await api('/api/users/me/two-factor/recovery-codes', { method: 'POST', body: { code: fresh.value.trim() } });
        fresh.value = '';
        codes.replaceChildren(...recoveryCodes(made.recoveryCodes));
      }, field('Code from the app', fresh), h('button', { type: 'submit' }, 'New recovery codes')),
      codes,
      status.required ? null : form({ 'aria-label': 'Turn off two-factor sign-in' }, async () => {
        const given = proof.value.trim();
        const sent = /^[\d\s]{6,8}$/.test(given) || /^\w{5}-\w{5}$/.test(given) ? { code: given } : { password: given };
        await api('/api/users/me/two-factor', { method: 'DELETE', body: sent });
        notify('Two-factor sign-in is off.', 'ok');
        await load();
      }, field('Code, recovery code or password', proof), h('button', { type: 'submit', class: 'danger' }, 'Turn off')));
  }

  return { node, load };
}
