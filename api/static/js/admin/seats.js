// @ts-check
// Admin: each team's AI subscription and its seats (used/total, assign, unassign).
import { h } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { field, form, input, items, run, section, select, value } from '../pageparts.js';
import { allTeams } from './people.js';

export async function seats(root) {
  const list = h('div', {});
  const setForm = h('div', {});
  async function load() {
    const [overview, teams] = await Promise.all([api('/api/seats'), allTeams()]);
    const lines = items(overview, 'seats');
    setForm.replaceChildren(teams.length ? subscriptionForm(teams, lines, load)
      : h('p', { class: 'muted' }, 'Add a team first (Teams section).'));
    const panels = await Promise.all(lines.map((line) => teamSeats(line, load)));
    list.replaceChildren(...(panels.length ? panels : [h('p', { class: 'muted' }, 'No team has an AI subscription yet.')]));
  }
  root.replaceChildren(section('Subscription', setForm), list);
  await load();
}

function subscriptionForm(teams, lines, reload) {
  const byTeam = new Map(lines.map((line) => [line.teamId, line]));
  const seatsInput = input('seats', { type: 'number', min: 0, required: true, value: 5 });
  const teamSelect = select('teamId', teams.map((t) => [t.id, t.name]));
  const fill = () => {
    const line = byTeam.get(teamSelect.value);
    seatsInput.value = line ? line.total : 5;
  };
  teamSelect.addEventListener('change', fill);
  fill();
  return form({ 'aria-label': 'Set seats' }, async (node) => {
    const body = { seats: Number(seatsInput.value), planName: value(node, 'planName') };
    await api(`/api/teams/${teamSelect.value}/ai-subscription`, { method: 'PUT', body });
    await reload();
  },
  field('Team', teamSelect),
  field('Seats', seatsInput),
  field('Plan', input('planName', { maxlength: 200 })),
  h('button', { type: 'submit', class: 'primary' }, 'Save seats'));
}

async function teamSeats(line, reload) {
  const [assigned, members] = await Promise.all([
    api(`/api/teams/${line.teamId}/seats`), api(`/api/teams/${line.teamId}/members`),
  ]);
  const holders = new Set(items(assigned, 'seats').map((s) => s.userId));
  const rows = items(members, 'members').map((m) => {
    const seated = holders.has(m.userId);
    // The reload draws the lists anew: the keyboard focus goes to this person's new button.
    const key = `${line.teamId}:${m.userId}`;
    const refocus = () => /** @type {HTMLElement | null} */ (document.querySelector(`[data-seat="${key}"]`))?.focus();
    const action = seated
      ? h('button', { type: 'button', 'data-seat': key, onclick: (e) => run(e.currentTarget, async () => {
        await api(`/api/teams/${line.teamId}/seats/${m.userId}`, { method: 'DELETE' });
        await reload();
        refocus();
      }, `${m.username}'s seat was taken back.`) }, `Unassign ${m.username}`)
      : h('button', { type: 'button', 'data-seat': key, disabled: line.used >= line.total, onclick: (e) => run(e.currentTarget, async () => {
        await api(`/api/teams/${line.teamId}/seats`, { method: 'POST', body: { userId: m.userId } });
        await reload();
        refocus();
      }, `${m.username} has a seat.`) }, `Assign ${m.username}`);
    return h('li', {},
      h('span', { class: 'what' }, m.displayName || m.username,
        h('small', { class: 'muted' }, seated ? 'has a seat' : 'no seat')),
      action);
  });
  const usage = `${line.used} of ${line.total} seats used`;
  return h('section', { class: 'panel', 'aria-label': `Seats of ${line.teamName}` },
    h('h2', {}, line.teamName),
    h('p', { class: 'status' },
      h('meter', { min: 0, max: Math.max(line.total, 1), value: line.used, high: Math.max(line.total, 1) * 0.9, 'aria-label': usage }),
      h('span', { class: 'seat-count' }, usage),
      line.planName ? h('span', { class: 'muted' }, `plan ${line.planName}`) : null,
      line.renewsAt ? h('span', { class: 'muted' }, `renews ${when(line.renewsAt)}`) : null),
    rows.length ? h('ul', { class: 'item-list', 'aria-label': `Members of ${line.teamName}` }, rows)
      : h('p', { class: 'muted' }, 'The team has no members: add them in Teams.'));
}
