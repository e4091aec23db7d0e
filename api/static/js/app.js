// Switchboard's web page: the shell (login, navigation, routing) and what every page module uses.
//
// Page modules live in /static/js/pages/<name>.js and export
//   render(root, params, ctx) -> optional cleanup function
// where root is an empty element to fill, params the route's captures, ctx {me, navigate, notify}.
// Text from the API always goes into the page as text (h() builds nodes, never parses markup);
// the only HTML the page inserts is Markdown the server rendered and sanitised (SafeHtml).

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}.`);
    this.status = status;
    this.code = (body && body.code) || 'http_' + status;
    this.details = (body && body.details) || {};
  }
}

/** HTML the server produced from Markdown with api/markdown.py (sanitised); nothing else. */
export class SafeHtml {
  constructor(html) { this.html = html; }
}

function cookie(name) {
  const found = document.cookie.split('; ').find((part) => part.startsWith(name + '='));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : '';
}

function requestInit(method, body, headers, signal) {
  const init = { method, headers: { ...headers }, credentials: 'same-origin', signal };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-CSRF-Token'] = cookie('switchboard_csrf');
  return init;
}

async function failure(response) {
  const body = await response.json().catch(() => null);
  if (response.status === 401 && !location.hash.startsWith('#/login')) showLogin();
  return new ApiError(response.status, body);
}

/** Call the API; resolves to the JSON body (null for 204), rejects with an ApiError. */
export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const response = await fetch(path, requestInit(method, body, headers, signal));
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/** Call an SSE endpoint (GET or POST); onEvent(type, data, id) for each event until it ends. */
export async function stream(path, { method = 'POST', body, headers = {}, signal, onEvent }) {
  const response = await fetch(path, requestInit(method, body, headers, signal));
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = { type: 'message', data: [], id: null };
      for (const line of frame.split('\n')) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const field = line.slice(0, colon);
        const text = line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event.type = text;
        else if (field === 'data') event.data.push(text);
        else if (field === 'id') event.id = text;
      }
      if (!event.data.length) continue;
      const raw = event.data.join('\n');
      let data = raw;
      try { data = JSON.parse(raw); } catch { /* plain text data */ }
      onEvent(event.type, data, event.id);
    }
  }
}

/** Render Markdown texts on the server; resolves to SafeHtml objects in the same order. */
export async function renderMarkdown(texts) {
  if (!texts.length) return [];
  const result = await api('/api/markdown/_render', { method: 'POST', body: { texts } });
  return result.html.map((html) => new SafeHtml(html));
}

/** Build an element: h('button', {class: 'x', onclick: fn}, 'text', otherNode). */
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
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A short message at the top of the page; errors carry what the user should do. */
export function notify(message, kind = 'error') {
  const bar = document.getElementById('notices') || document.body;
  const item = h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', {}, message),
    h('button', { class: 'icon', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  bar.append(item);
  if (kind !== 'error') setTimeout(() => item.remove(), 4000);
}

export function money(micros) {
  const dollars = (micros || 0) / 1e6;
  return dollars < 0.01 && dollars > 0 ? `$${dollars.toFixed(6)}` : `$${dollars.toFixed(2)}`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}

const ROUTES = [
  { pattern: /^#\/chat(?:\/([\w-]+))?$/, page: 'chat', keys: ['chatId'], nav: 'Chat' },
  { pattern: /^#\/assistants(?:\/([\w-]+))?$/, page: 'assistants', keys: ['assistantId'], nav: 'Assistants' },
  { pattern: /^#\/library(?:\/([\w-]+))?$/, page: 'library', keys: ['folderId'], nav: 'Library' },
  { pattern: /^#\/admin(?:\/([\w-]+))?$/, page: 'admin', keys: ['section'], nav: 'Admin', admin: true },
  { pattern: /^#\/files\/([\w-]+)(?:\/passages\/(\d+))?$/, page: 'file', keys: ['fileId', 'passage'] },
  { pattern: /^#\/shared\/([\w-]+)$/, page: 'shared', keys: ['token'], public: true },
];

let me = null;
let cleanup = null;

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function showLogin() {
  me = null;
  location.hash = '#/login';
}

function loginView(root) {
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { class: 'login card', onsubmit: async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await api('/api/auth/login', { method: 'POST', body: { username: username.value, password: password.value } });
      me = await api('/api/me');
      navigate('#/chat');
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  } },
  h('h1', {}, 'Switchboard'),
  h('label', {}, 'Username', username),
  h('label', {}, 'Password', password),
  error,
  h('button', { type: 'submit', class: 'primary' }, 'Log in'));
  root.replaceChildren(h('main', { class: 'login-page' }, form));
}

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
      h('span', { class: 'who' }, me.displayName || me.username), logout),
    h('div', { id: 'notices', 'aria-live': 'polite' }),
    main);
  return main;
}

function publicShell(root) {
  const main = h('main', { id: 'page', tabindex: '-1' });
  root.replaceChildren(
    h('header', { class: 'topbar' }, h('a', { class: 'brand', href: '#/login' }, 'Switchboard')),
    h('div', { id: 'notices', 'aria-live': 'polite' }),
    main);
  return main;
}

async function route() {
  const root = document.getElementById('app');
  if (cleanup) { try { cleanup(); } catch { /* the old page is gone anyway */ } cleanup = null; }
  if (location.hash === '#/login') { loginView(root); return; }
  const found = ROUTES.map((r) => [r, r.pattern.exec(location.hash)]).find(([, m]) => m);
  if (!me && !(found && found[0].public)) {
    try { me = await api('/api/me'); } catch { return; }
  }
  if (!found || (found[0].admin && me.role !== 'admin')) { navigate('#/chat'); return; }
  const [entry, match] = found;
  const params = Object.fromEntries(entry.keys.map((key, i) => [key, match[i + 1] || null]));
  const main = entry.public && !me ? publicShell(root) : shell(root, entry.page);
  try {
    const module = await import(`./pages/${entry.page}.js`);
    cleanup = (await module.render(main, params, { me, navigate, notify })) || null;
  } catch (err) {
    main.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message || String(err)));
  }
}

window.addEventListener('hashchange', route);
route();
