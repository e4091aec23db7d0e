// @ts-check
// Admin: the audit log (GET /api/audit-events): sign-ins, tokens, grants, roles, teams and secrets
// changed, newest first, filtered by kind and outcome, and the same as CSV.
import { h } from '../dom.js';
import { when } from '../format.js';
import { api } from '../http.js';
import { badge, field, items, select, table } from '../pageparts.js';

const KINDS = ['', 'sign_in.succeeded', 'sign_in.failed', 'password.changed', 'password.reset',
  'token.created', 'token.revoked', 'grant.created', 'grant.revoked', 'user.created', 'user.role_changed',
  'user.deactivated', 'user.deleted', 'team.member_added', 'team.member_removed', 'secret.changed',
  'two_factor.enabled', 'two_factor.disabled', 'session.ended'];

/** @param {HTMLElement} root */
export async function audit(root) {
  const kind = select('kind', KINDS.map((k) => [k, k || 'Any']), '');
  const outcome = select('outcome', [['', 'Any'], ['success', 'Success'], ['failure', 'Failure']], '');
  const csv = h('a', { download: 'audit-events.csv' }, 'Download CSV');
  const list = h('div', {});
  async function load() {
    const query = new URLSearchParams({ limit: '200' });
    if (kind.value) query.set('kind', kind.value);
    if (outcome.value) query.set('outcome', outcome.value);
    const events = items(await api(`/api/audit-events?${query}`), 'auditEvents');
    query.delete('limit');
    query.set('format', 'csv');
    csv.href = `/api/audit-events?${query}`;
    list.replaceChildren(table('Audit events', ['When', 'What', 'Outcome', 'Who', 'Subject', 'From', 'Details'],
      events.map((/** @type {any} */ e) => [when(e.at), e.count > 1 ? `${e.kind} ×${e.count}` : e.kind,
        badge(e.outcome), e.actorId || '',
        e.subjectType ? `${e.subjectType} ${e.subjectId || ''}` : '', e.ip || '',
        h('code', {}, JSON.stringify(e.details))]), 'No events match.'));
  }
  kind.addEventListener('change', load);
  outcome.addEventListener('change', load);
  root.replaceChildren(
    h('p', { class: 'muted' }, 'Kept for SWITCHBOARD_AUDIT_RETENTION_DAYS (365 unless set).'),
    h('div', { class: 'form-row' }, field('Kind', kind), field('Outcome', outcome), csv),
    list);
  await load();
}
