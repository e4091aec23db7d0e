// @ts-check
// The login view's OpenID provider buttons (GET /api/auth/providers, one link per provider to
// /api/auth/oidc/<name>/login), and why a provider sign-in was refused: the callback sends the
// browser to /?signInError=<code>#/login, and only the code travels (the words are ours).
import { h } from './dom.js';
import { api } from './http.js';

/** @type {Record<string, string>} */
const MESSAGES = {
  oidc_state_mismatch: 'That sign-in was started in another browser or took too long. Please try again.',
  oidc_provider_refused: 'Your identity provider did not sign you in.',
  oidc_code_rejected: 'Your identity provider refused the sign-in (it may have been used already). Please try again.',
  oidc_token_invalid: "Your identity provider's answer failed verification, so the sign-in was refused.",
  oidc_domain_not_allowed: 'Your e-mail domain may not sign in here. Ask an admin.',
  oidc_email_not_verified: 'Your identity provider has not verified your e-mail address.',
  oidc_account_exists: 'An account with your e-mail address exists here. Ask an admin to link it.',
  account_deactivated: 'Your account is deactivated. Ask an admin.',
  oidc_provider_unavailable: 'Your identity provider could not be reached. Try again shortly.',
};

/**
 * Put one button per provider at the top of the login form, and show a refused provider
 * sign-in's reason in the form's error line.
 * @param {HTMLFormElement} form
 * @param {HTMLElement} error
 */
export async function addProviderButtons(form, error) {
  const code = new URLSearchParams(location.search).get('signInError');
  if (code) {
    error.textContent = MESSAGES[code] || `Sign-in failed (${code}).`;
    error.hidden = false;
    history.replaceState(null, '', location.pathname + location.hash); // not shown again on reload
  }
  /** @type {{passwordLogin: boolean, providers: {name: string, displayName: string, loginUrl: string}[]}} */
  let options;
  try { options = await api('/api/auth/providers'); } catch { return; }
  if (!options.providers.length) return;
  const buttons = options.providers.map((provider) =>
    h('a', { class: 'button', href: provider.loginUrl, dataset: { provider: provider.name } },
      `Sign in with ${provider.displayName}`));
  const note = options.passwordLogin ? 'Or with a password:' : 'Password sign-in is for break-glass administrators only:';
  const heading = form.querySelector('h1');
  if (heading) heading.after(...buttons, h('p', { class: 'muted' }, note));
}
