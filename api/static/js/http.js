// @ts-check
// Talking to Switchboard's API: the fetch wrapper, its JSON errors, SSE streams, server-rendered
// Markdown, and the one reader of the CSRF cookie (every request that changes something sends it).
import { SafeHtml } from './dom.js';

/** The error body every API error has (DESIGN.md). @typedef {{code?: string, message?: string, details?: Record<string, any>}} ErrorBody */

/**
 * What api() and stream() accept besides the path.
 * @typedef {object} CallOptions
 * @property {string} [method] HTTP method (api: GET, stream: POST by default)
 * @property {unknown} [body] sent as JSON, or as is when it is FormData
 * @property {Record<string, string>} [headers]
 * @property {AbortSignal} [signal]
 */

/** A request the API refused or failed: status, the error body's code, message and details. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {ErrorBody | null} body
   */
  constructor(status, body) {
    super((body && body.message) || `The server answered ${status}.`);
    this.status = status;
    this.code = (body && body.code) || 'http_' + status;
    /** @type {Record<string, any>} */
    this.details = (body && body.details) || {};
  }
}

/** The CSRF token the session cookie came with; every request but GET and HEAD sends it as X-CSRF-Token. */
export function csrfToken() {
  const name = 'switchboard_csrf=';
  const found = document.cookie.split('; ').find((part) => part.startsWith(name));
  return found ? decodeURIComponent(found.slice(name.length)) : '';
}

/** @type {() => void} */
let unauthorized = () => {};

/**
 * What to do when the API answers 401 (main.js shows the login view); one handler, set once.
 * @param {() => void} handler
 */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/**
 * @param {string} method
 * @param {unknown} body
 * @param {Record<string, string>} headers
 * @param {AbortSignal | undefined} signal
 * @returns {RequestInit}
 */
function requestInit(method, body, headers, signal) {
  /** @type {Record<string, string>} */
  const sent = { ...headers };
  /** @type {RequestInit} */
  const init = { method, headers: sent, credentials: 'same-origin', signal };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    sent['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD') sent['X-CSRF-Token'] = csrfToken();
  return init;
}

/** @param {Response} response */
async function failure(response) {
  const body = await response.json().catch(() => null);
  if (response.status === 401) unauthorized();
  return new ApiError(response.status, body);
}

/**
 * Call the API; resolves to the JSON body (null for 204), rejects with an ApiError.
 * @param {string} path
 * @param {CallOptions} [options]
 * @returns {Promise<any>}
 */
export async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const response = await fetch(path, requestInit(method, body, headers, signal));
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

/**
 * Call an SSE endpoint (GET or POST); onEvent(type, data, id) for each event until it ends.
 * @param {string} path
 * @param {CallOptions & {onEvent: (type: string, data: any, id: string | null) => void}} options
 * @returns {Promise<void>}
 */
export async function stream(path, { method = 'POST', body, headers = {}, signal, onEvent }) {
  const response = await fetch(path, requestInit(method, body, headers, signal));
  if (!response.ok) throw await failure(response);
  const bytes = /** @type {NonNullable<typeof response.body>} */ (response.body);
  const reader = bytes.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      /** @type {{type: string, data: string[], id: string | null}} */
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
      /** @type {any} */
      let data = raw;
      try { data = JSON.parse(raw); } catch { /* plain text data */ }
      onEvent(event.type, data, event.id);
    }
  }
}

/**
 * Render Markdown texts on the server; resolves to SafeHtml objects in the same order.
 * @param {string[]} texts
 * @returns {Promise<SafeHtml[]>}
 */
export async function renderMarkdown(texts) {
  if (!texts.length) return [];
  const result = await api('/api/markdown/_render', { method: 'POST', body: { texts } });
  return result.html.map((/** @type {string} */ html) => new SafeHtml(html));
}
