// @ts-check
// Your storage: what your chat attachments and library files take against your limit
// (GET /api/users/me/storage), as a line with a meter (the library's upload section) and as the
// account page's panel with the split by kind.
import { h } from '../dom.js';
import { api } from '../http.js';
import { section } from '../pageparts.js';

/** A byte count for a person, in the units the server's messages use (KiB, MiB, GiB). @param {number} size */
export function shownBytes(size) {
  if (size < 1024) return `${size} bytes`;
  let value = size;
  for (const unit of ['KiB', 'MiB', 'GiB', 'TiB']) {
    value /= 1024;
    if (value < 1024 || unit === 'TiB') return `${Number(value.toFixed(1))} ${unit}`;
  }
  return `${size} bytes`;
}

/** What `usage` says in words. @param {any} usage */
function sentence(usage) {
  const used = shownBytes(usage.usedBytes);
  if (usage.limitBytes === null) return `Your files take ${used} (no storage limit).`;
  const left = usage.remainingBytes === 0
    ? 'full: delete files you no longer need, or ask an admin to raise your limit'
    : `${shownBytes(usage.remainingBytes)} left`;
  return `Your files take ${used} of ${shownBytes(usage.limitBytes)} (${left}).`;
}

/** One line: used of limit, with a meter; `load` fetches it again (after an upload or delete). */
export function storageLine() {
  const text = h('span', {}, 'Loading your storage…');
  const meter = h('meter', { min: 0, max: 1, value: 0, low: 0.8, high: 0.95, optimum: 0, 'aria-label': 'Storage used' });
  const node = h('p', { class: 'storage', 'aria-live': 'polite' }, meter, ' ', text);

  async function load() {
    const usage = await api('/api/users/me/storage');
    text.textContent = sentence(usage);
    meter.hidden = usage.limitBytes === null;
    if (usage.limitBytes) meter.value = Math.min(1, usage.usedBytes / usage.limitBytes);
    return usage;
  }
  return { node, load };
}

/** The account page's panel: the line, and what chats and the library each take. */
export function storagePanel() {
  const line = storageLine();
  const split = h('p', { class: 'muted' });
  const node = section('Storage', line.node, split);

  async function load() {
    const usage = await line.load();
    split.textContent = `Chat attachments: ${shownBytes(usage.attachmentBytes)}. `
      + `Library files (yours, your assistants' and what you uploaded to your teams'): ${shownBytes(usage.libraryBytes)}.`;
  }
  return { node, load };
}
