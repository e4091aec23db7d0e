// @ts-check
// Switchboard's web page, the entry point (index.html loads it; no module imports it): the shell,
// login, navigation and routing.
//
// Page modules live in /static/js/pages/<name>.js and export
//   render(root, params, ctx) -> optional cleanup function
// where root is an empty element to fill, params the route's captures, ctx {me, navigate, notify}.
// Pages build on http.js (the API), dom.js (elements), format.js and pageparts.js.
// Text from the API always goes into the page as text (h() builds nodes, never parses markup);
// the only HTML the page inserts is Markdown the server rendered and sanitised (SafeHtml).
import { h, notify } from './dom.js';
import { api, onUnauthorized } from './http.js';
import { codeStep } from './sign_in_code.js';
import { addProviderButtons } from './sign_in_providers.js';
import { installShortcuts, shortcutsButton } from './shortcuts.js';
import { applyTheme, themeSwitch } from './theme.js';

/**
 * @typedef {object} Route
 * @property {RegExp} pattern matched against location.hash
 * @property {string} page the module in pages/
 * @property {string[]} keys names of the pattern's captures
 * @property {string} [nav] its link in the top bar
 * @property {boolean} [admin] only for admins
 * @property {boolean} [public] open without logging in
 */

/** @typedef {{render: (root: HTMLElement, params: Record<string, string | null>, ctx: object) => unknown}} PageModule */

/** @type {Route[]} */
const ROUTES = [
  { pattern: /^#\/chat(?:\/([\w-]+))?$/, page: 'chat', keys: ['chatId'], nav: 'Chat' },
  { pattern: /^#\/assistants(?:\/([\w-]+))?$/, page: 'assistants', keys: ['assistantId'], nav: 'Assistants' },
  { pattern: /^#\/library(?:\/([\w-]+))?$/, page: 'library', keys: ['folderId'], nav: 'Library' },
  { pattern: /^#\/admin(?:\/([\w-]+))?$/, page: 'admin', keys: ['section'], nav: 'Admin', admin: true },
  { pattern: /^#\/files\/([\w-]+)(?:\/passages\/(\d+))?$/, page: 'file', keys: ['fileId', 'passage'] },
  { pattern: /^#\/shared\/([\w-]+)$/, page: 'shared', keys: ['token'], public: true },
  { pattern: /^#\/authorize\/([\w-]+)$/, page: 'authorize', keys: ['requestId'] },
  { pattern: /^#\/account$/, page: 'account', keys: [] },
];
/** Where to go after logging in, when login interrupted an MCP client's consent (sessionStorage). */
const RETURN_KEY = 'switchboard.afterLogin';

/** The logged-in user (GET /api/me), null until known. @type {any} */
let me = null;
/** @type {(() => void) | null} */
let cleanup = null;

/** @param {string} hash */
function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showLogin() {
  me = null;
  if (location.hash.startsWith('#/authorize/')) sessionStorage.setItem(RETURN_KEY, location.hash);
  location.hash = '#/login';
}

/** @param {HTMLElement} root */
function loginView(root) {
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'login card', onsubmit: async (/** @type {SubmitEvent} */ event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      const body = { username: username.value, password: password.value, ...step.fields() };
      await step.after(await api('/api/auth/login', { method: 'POST', body }));
      me = await api('/api/me');
      const back = sessionStorage.getItem(RETURN_KEY);
      sessionStorage.removeItem(RETURN_KEY);
      navigate(back && back.startsWith('#/authorize/') ? back : '#/chat');
    } catch (err) {
      if (step.asked(err)) return;
      error.textContent = err.message;
      error.hidden = false;
    }
  } },
  h('h1', {}, 'Switchboard'),
  h('label', {}, 'Username', username),
  h('label', {}, 'Password', password),
  error,
  h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  const step = codeStep(form, error);
  root.replaceChildren(h('main', { class: 'login-page' }, form));
  addProviderButtons(form, error);
}

/**
 * @param {HTMLElement} root
 * @param {string} current
 */
function shell(root, current) {
  const links = ROUTES.filter((r) => r.nav && (!r.admin || me.role === 'admin')).map((r) =>
    h('a', { href: `#/${r.page}`, 'aria-current': r.page === current ? 'page' : false }, r.nav));
  const logout = h('button', { class: 'link', onclick: async () => {
    await api('/api/auth/logout', { method: 'POST' }).catch(() => null);
    showLogin();
  } }, 'Log out');
  const main = h('main', { id: 'page', tabindex: '-1' });
  root.replaceChildren(
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '#/chat' }, 'Switchboard'),
      h('nav', { 'aria-label': 'Main' }, links),
      themeSwitch(), shortcutsButton(),
      h('a', { class: 'who', href: '#/account', title: 'Your account' }, me.displayName || me.username), logout),
    h('div', { id: 'notices', 'aria-live': 'polite' }),
    main);
  return main;
}

/** @param {HTMLElement} root */
function publicShell(root) {
  const main = h('main', { id: 'page', tabindex: '-1' });
  root.replaceChildren(
    h('header', { class: 'topbar' }, h('a', { class: 'brand', href: '#/login' }, 'Switchboard')),
    h('div', { id: 'notices', 'aria-live': 'polite' }),
    main);
  return main;
}

async function route() {
  const root = /** @type {HTMLElement} */ (document.getElementById('app'));
  if (cleanup) { try { cleanup(); } catch { /* the old page is gone anyway */ } cleanup = null; }
  if (location.hash === '#/login') { loginView(root); return; }
  const found = ROUTES.map((r) => /** @type {const} */ ([r, r.pattern.exec(location.hash)])).find(([, m]) => m);
  if (!me && !(found && found[0].public)) {
    try { me = await api('/api/me'); } catch { return; }
    // Signed in elsewhere (an OpenID provider's redirect back): go on to the consent that waited.
    const back = sessionStorage.getItem(RETURN_KEY);
    sessionStorage.removeItem(RETURN_KEY);
    if (back && back.startsWith('#/authorize/') && back !== location.hash) { navigate(back); return; }
  }
  if (!found || (found[0].admin && me.role !== 'admin')) { navigate('#/chat'); return; }
  const [entry, match] = found;
  const params = Object.fromEntries(entry.keys.map((key, i) => [key, (match && match[i + 1]) || null]));
  const main = entry.public && !me ? publicShell(root) : shell(root, entry.page);
  try {
    /** @type {PageModule} */
    const module = await import(`./pages/${entry.page}.js`);
    cleanup = /** @type {(() => void) | null} */ ((await module.render(main, params, { me, navigate, notify })) || null);
  } catch (err) {
    main.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message || String(err)));
  }
}

onUnauthorized(() => {
  if (!location.hash.startsWith('#/login')) showLogin();
});
window.addEventListener('hashchange', route);
applyTheme();
installShortcuts(navigate);
route();
