// @ts-check
// Account: where you are signed in, ending one session or all the others.
import { h, notify } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { items, run, section, table } from '../pageparts.js';

export function sessionsPanel() {
  const list = h('div', {});
  const others = h('button', { type: 'button', onclick: () => run(others, async () => {
    const done = await api('/api/users/me/sessions/_end-others', { method: 'POST' });
    notify(`${done.ended} other session(s) ended.`, 'ok');
    await load();
  }) }, 'Sign out everywhere else');
  const node = section('Sessions', list, others);

  async function load() {
    const sessions = items(await api('/api/users/me/sessions'), 'sessions');
    list.replaceChildren(table('Your sessions', ['Browser', 'Address', 'Signed in', 'Expires', ''],
      sessions.map((/** @type {any} */ s) => [
        s.userAgent || 'unknown', s.ip || '', when(s.createdAt), when(s.expiresAt),
        s.current ? h('strong', {}, 'This session') : h('button', { type: 'button', onclick: (/** @type {Event} */ e) =>
          run(/** @type {HTMLButtonElement} */ (e.currentTarget), async () => {
            await api(`/api/users/me/sessions/${encodeURIComponent(s.id)}`, { method: 'DELETE' });
            await load();
          }) }, 'End'),
      ])));
  }
  return { node, load };
}
