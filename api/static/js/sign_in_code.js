// @ts-check
// The login form's second step for two-factor sign-in: the authenticator code field (shown when
// the server asks for it), the enrolment a user who must use two-factor sees the first time, and
// the recovery codes shown once after enrolling that way.
import { h } from './dom.js';

/**
 * @typedef {object} CodeStep
 * @property {() => {code?: string}} fields what the login request adds (the code, once asked)
 * @property {(err: any) => boolean} asked true when err asked for the code step (now shown)
 * @property {(result: any) => Promise<void>} after shows new recovery codes until Continue
 */

/**
 * Add the (hidden) code step to a login form, before `before`.
 * @param {HTMLFormElement} form
 * @param {HTMLElement} before
 * @returns {CodeStep}
 */
export function codeStep(form, before) {
  const code = h('input', { name: 'code', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: 64 });
  const label = h('label', { hidden: true }, 'Authenticator code', code,
    h('small', { class: 'muted' }, 'The 6 digits your authenticator app shows, or a recovery code.'));
  const enrolment = h('div', { class: 'enrolment', hidden: true });
  form.insertBefore(enrolment, before);
  form.insertBefore(label, before);

  function show() {
    label.hidden = false;
    code.value = '';
    code.required = true;
    code.focus();
  }

  return {
    fields: () => (label.hidden || !code.value.trim() ? {} : { code: code.value.trim() }),
    asked(err) {
      if (err.code === 'two_factor_required') { show(); return true; }
      if (err.code === 'invalid_two_factor_code') { show(); return false; }
      if (err.code !== 'two_factor_enrolment_required') return false;
      enrolment.replaceChildren(...enrolmentHelp(err.details.secret, err.details.otpauthUri));
      enrolment.hidden = false;
      show();
      return true;
    },
    after(result) {
      const codes = (result && result.recoveryCodes) || [];
      if (!codes.length) return Promise.resolve();
      return new Promise((resolve) => {
        const next = h('button', { type: 'button', class: 'primary', onclick: () => resolve() }, 'Continue');
        form.replaceChildren(h('h1', {}, 'Two-factor sign-in is on'), ...recoveryCodes(codes), next);
        next.focus();
      });
    },
  };
}

/**
 * How to add an authenticator: the secret to type in and the otpauth:// URI (as text; no QR code).
 * @param {string} secret
 * @param {string} uri
 */
export function enrolmentHelp(secret, uri) {
  return [
    h('p', {}, 'Add Switchboard to an authenticator app (such as Google Authenticator, 1Password or Aegis) ' +
      'by typing in this secret, then enter the code it shows.'),
    h('p', {}, 'Secret: ', h('code', { class: 'secret' }, secret)),
    h('details', {}, h('summary', {}, 'Setup link (otpauth URI)'), h('code', { class: 'secret' }, uri)),
  ];
}

/**
 * Recovery codes, shown this once, with what they are for.
 * @param {string[]} codes
 */
export function recoveryCodes(codes) {
  return [
    h('p', {}, 'Keep these recovery codes somewhere safe. Each signs you in once if you lose your ' +
      'authenticator; they are not shown again.'),
    h('ul', { class: 'recovery-codes', 'aria-label': 'Recovery codes' }, codes.map((c) => h('li', {}, h('code', {}, c)))),
  ];
}
