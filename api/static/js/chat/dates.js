// @ts-check
// The chat list's groups by date: Pinned, Today, Yesterday, Previous 7 days, Previous 30 days,
// then one group per month ("November 2026"), by when each chat last changed, in local time.

import { h } from '../dom.js';

const DAY = 24 * 60 * 60 * 1000;

/**
 * The group a chat falls in.
 * @param {{pinned?: boolean, updatedAt?: string, createdAt?: string}} chat
 * @param {Date} now
 */
export function dateGroup(chat, now = new Date()) {
  if (chat.pinned) return 'Pinned';
  const when = new Date(chat.updatedAt || chat.createdAt || now.toISOString());
  const today = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const day = new Date(when.getFullYear(), when.getMonth(), when.getDate()).getTime();
  const daysAgo = Math.round((today - day) / DAY);
  if (daysAgo <= 0) return 'Today';
  if (daysAgo === 1) return 'Yesterday';
  if (daysAgo <= 7) return 'Previous 7 days';
  if (daysAgo <= 30) return 'Previous 30 days';
  return when.toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
}

/**
 * The list's items with a heading item before each group (the list stays flat, so each chat's
 * item holds only that chat).
 * @template T
 * @param {T[]} chats newest first, pinned before the rest (the API's order)
 * @param {(chat: T) => HTMLElement} item
 * @returns {HTMLElement[]}
 */
export function groupedByDate(chats, item) {
  const now = new Date();
  const items = [];
  let current = null;
  for (const chat of chats) {
    const group = dateGroup(/** @type {any} */ (chat), now);
    if (group !== current) {
      items.push(h('li', { class: 'chat-group' }, h('h2', {}, group)));
      current = group;
    }
    items.push(item(chat));
  }
  return items;
}
