// @ts-check
// Admin: users (create with a seat, who has a seat, deactivate, reactivate, storage limits) and
// teams (create, members).
import { shownBytes } from '../account/storage.js';
import { h, notify } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import {
  badge, confirmButton, field, form, input, items, run, section, select, table, value,
} from '../pageparts.js';

export async function allUsers() {
  return items(await api('/api/users?limit=500&sort=username'), 'users');
}

export async function allTeams() {
  return items(await api('/api/teams?limit=500&sort=name'), 'teams');
}

export function userLabel(user) {
  return user.displayName && user.displayName !== user.username
    ? `${user.displayName} (${user.username})` : user.username;
}

/** The teams' subscriptions and who holds a seat: {lines, holders: Map(userId -> team name)}. */
async function seatHolders() {
  const lines = items(await api('/api/seats'), 'seats');
  const holders = new Map();
  await Promise.all(lines.map(async (line) => {
    for (const seat of items(await api(`/api/teams/${line.teamId}/seats`), 'seats')) holders.set(seat.userId, line.teamName);
  }));
  return { lines, holders };
}

/** A new user gets a seat of `teamId`: joins the team first (unless already in it), then the seat. */
async function giveSeat(userId, teamId) {
  const members = items(await api(`/api/teams/${teamId}/members`), 'members');
  if (!members.some((m) => m.userId === userId)) {
    await api(`/api/teams/${teamId}/members`, { method: 'POST', body: { userId, role: 'member' } });
  }
  await api(`/api/teams/${teamId}/seats`, { method: 'POST', body: { userId } });
}

export async function users(root) {
  const list = h('div', {});
  const storage = storageLimits();
  const seatChoice = h('select', { name: 'seatTeam' });
  async function load() {
    const [people, seats] = await Promise.all([allUsers(), seatHolders()]);
    const offered = seatChoice.value;
    seatChoice.replaceChildren(h('option', { value: '' }, 'No seat'),
      ...seats.lines.map((line) => h('option', { value: line.teamId, disabled: line.used >= line.total },
        `${line.teamName} (${line.used} of ${line.total} used)`)));
    const free = seats.lines.find((line) => line.used < line.total);
    seatChoice.value = offered && seats.lines.some((l) => l.teamId === offered) ? offered : (free?.teamId || '');
    const rows = people.map((user) => [
      user.username, user.displayName, user.role,
      badge(user.active ? 'active' : 'inactive'),
      seats.holders.has(user.id) ? seats.holders.get(user.id) : badge('no seat', 'none'),
      user.lastSignInAt ? `${when(user.lastSignInAt)} (${user.lastSignInMethod})` : 'never',
      h('button', { type: 'button', onclick: (e) => run(e.currentTarget, async () => {
        await api(`/api/users/${user.id}`, { method: 'PATCH', body: { active: !user.active } });
        await load();
      }, user.active ? `${user.username} can no longer log in.` : `${user.username} can log in again.`) },
      user.active ? 'Deactivate' : 'Reactivate'),
    ]);
    list.replaceChildren(table('Users', ['Username', 'Name', 'Role', 'Status', 'Seat', 'Last sign-in', ''], rows));
  }
  const create = form({ 'aria-label': 'New user' }, async (node) => {
    const created = await api('/api/users', { method: 'POST', body: {
      username: value(node, 'username'), displayName: value(node, 'displayName') || '',
      password: node.elements.password.value, role: node.elements.role.value,
    } });
    if (seatChoice.value) await giveSeat(created.id, seatChoice.value);
    node.reset();
    await Promise.all([load(), storage.load()]);
  },
  field('Username', input('username', { required: true, pattern: '[A-Za-z0-9_.@\\-]+', autocomplete: 'off' })),
  field('Display name', input('displayName', { autocomplete: 'off' })),
  field('Password', input('password', { type: 'password', required: true, minlength: 12, autocomplete: 'new-password' })),
  field('Role', select('role', [['member', 'member'], ['admin', 'admin']], 'member')),
  field('AI seat', seatChoice, 'Needed to chat; from a team with a free seat.'),
  h('button', { type: 'submit', class: 'primary' }, 'Add user'));
  root.replaceChildren(section('New user', create), section('Users', list), storage.node);
  await Promise.all([load(), storage.load()]);
}

const MAX_LIMIT = 2 ** 62; // what the server takes (StorageLimitWrite)
const UNITS = [['1048576', 'MiB'], ['1073741824', 'GiB'], ['1024', 'KiB'], ['1', 'bytes']];

/** A user's limit in words: the bytes, and whether it is their own or the instance's default. */
function limitText(usage) {
  const amount = usage.limitBytes === null ? 'no limit' : shownBytes(usage.limitBytes);
  return usage.ownLimitBytes === null ? `${amount} (default)` : `${amount} (set for this user)`;
}

/** Each user's storage (GET /api/users/storage) and a form to set, lift or clear one user's
 * limit (PUT /api/users/{id}/storage: bytes, 0 for no limit, null for the default). */
function storageLimits() {
  const list = h('div', {});
  const who = h('select', { name: 'userId', required: true });
  async function load() {
    const found = items(await api('/api/users/storage?limit=500&sort=username'), 'storage');
    const chosen = who.value;
    who.replaceChildren(...found.map((u) => h('option', { value: u.userId }, u.username)));
    if (found.some((u) => u.userId === chosen)) who.value = chosen;
    list.replaceChildren(table('Storage', ['User', 'Used', 'Limit'], found.map((u) => [
      u.username,
      u.remainingBytes === 0 ? h('span', {}, shownBytes(u.usedBytes), ' ', badge('full', 'failed')) : shownBytes(u.usedBytes),
      limitText(u),
    ])));
  }
  async function put(limitBytes) {
    const name = who.selectedOptions[0]?.textContent || 'the user';
    const answer = await api(`/api/users/${who.value}/storage`, { method: 'PUT', body: { limitBytes } });
    await load();
    return `${name}: ${limitText(answer)}.`;
  }
  const change = form({ 'aria-label': 'Storage limit' }, async (node) => {
    const limitBytes = Math.round(Number(node.elements.amount.value) * Number(node.elements.unit.value));
    if (!(limitBytes <= MAX_LIMIT)) throw new Error(`A limit can be at most ${shownBytes(MAX_LIMIT)}; 0 means no limit.`);
    const done = await put(limitBytes);
    node.elements.amount.value = '';
    notify(done, 'ok');
  },
  field('User', who),
  field('Limit', input('amount', { type: 'number', min: 0, step: 'any', required: true, inputmode: 'decimal' }),
    '0 for no limit. Files already stored stay when it is lowered.'),
  field('Unit', select('unit', UNITS, '1048576')),
  h('button', { type: 'submit', class: 'primary' }, 'Set limit'),
  h('button', { type: 'button', onclick: async (e) => {
    const done = await run(e.currentTarget, () => put(null));
    if (done) notify(done, 'ok');
  } }, 'Use the default'));
  return { node: section('Storage limits', change, list), load };
}

export async function teams(root) {
  const list = h('div', {});
  async function load() {
    const [found, people] = await Promise.all([allTeams(), allUsers()]);
    const panels = await Promise.all(found.map((team) => teamPanel(team, people, load)));
    list.replaceChildren(...(panels.length ? panels : [h('p', { class: 'muted' }, 'No teams yet.')]));
  }
  const create = form({ 'aria-label': 'New team' }, async (node) => {
    await api('/api/teams', { method: 'POST', body: { name: value(node, 'name'), description: value(node, 'description') || '' } });
    node.reset();
    await load();
  },
  field('Team name', input('name', { required: true, maxlength: 200 })),
  field('Description', input('description', { maxlength: 2000 })),
  h('button', { type: 'submit', class: 'primary' }, 'Add team'));
  root.replaceChildren(section('New team', create), list);
  await load();
}

async function teamPanel(team, people, reload) {
  const members = items(await api(`/api/teams/${team.id}/members`), 'members');
  const inTeam = new Set(members.map((m) => m.userId));
  const outside = people.filter((u) => !inTeam.has(u.id));
  const rows = members.map((m) => h('li', {},
    h('span', { class: 'what' }, m.displayName || m.username, h('small', { class: 'muted' }, `${m.username} · ${m.role}`)),
    h('button', { type: 'button', onclick: (e) => run(e.currentTarget, async () => {
      await api(`/api/teams/${team.id}/members/${m.userId}`, { method: 'DELETE' });
      await reload();
    }) }, `Remove ${m.username}`)));
  const add = outside.length ? form({ 'aria-label': `Add a member to ${team.name}` }, async (node) => {
    await api(`/api/teams/${team.id}/members`, { method: 'POST', body: { userId: node.elements.userId.value, role: node.elements.role.value } });
    await reload();
  },
  field('User', select('userId', outside.map((u) => [u.id, userLabel(u)]))),
  field('Team role', select('role', [['member', 'member'], ['owner', 'owner']], 'member')),
  h('button', { type: 'submit' }, 'Add member')) : null;
  return h('section', { class: 'panel', 'aria-label': `Team ${team.name}` },
    h('h2', {}, team.name),
    team.description ? h('p', { class: 'muted' }, team.description) : null,
    members.length ? h('ul', { class: 'item-list', 'aria-label': `Members of ${team.name}` }, rows)
      : h('p', { class: 'muted' }, 'No members yet.'),
    add,
    h('p', {}, confirmButton('Delete team', `Delete ${team.name} and its memberships?`, async () => {
      await api(`/api/teams/${team.id}`, { method: 'DELETE' });
      await reload();
    })));
}
