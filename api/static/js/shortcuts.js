// @ts-check
// Keyboard shortcuts, and the dialog that lists them (the top bar's "?" button, or "?" typed
// anywhere outside a text field). Pages offer what they can do through onShortcuts().

import { h } from './dom.js';

const isMac = /Mac|iPhone|iPad/.test(navigator.platform);
const MOD = isMac ? '⌘' : 'Ctrl';
export const SHORTCUTS = [
  [`${MOD}+Shift+O`, 'New chat'],
  ['Shift+Esc', 'Focus the message box'],
  ['Esc', 'Stop the answer being written'],
  ['Enter / Shift+Enter', 'Send / new line in the message box'],
  ['?', 'Show these shortcuts'],
];

/** @type {{stop?: () => unknown}} */
let handlers = {};
/** @type {HTMLDialogElement | null} */
let dialog = null;

/**
 * What the current page does on a shortcut; returns the function that takes it back.
 * @param {{stop?: () => unknown}} offered
 */
export function onShortcuts(offered) {
  handlers = offered;
  return () => { if (handlers === offered) handlers = {}; };
}

/** @param {EventTarget | null} target */
function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

export function showShortcuts() {
  if (!dialog || !dialog.isConnected) {
    const close = h('button', { type: 'button', onclick: () => dialog?.close() }, 'Close');
    dialog = h('dialog', { class: 'shortcuts-dialog', 'aria-labelledby': 'shortcuts-title' },
      h('h2', { id: 'shortcuts-title' }, 'Keyboard shortcuts'),
      h('dl', { class: 'shortcut-list' }, SHORTCUTS.map(([keys, what]) => [h('dt', {}, h('kbd', {}, keys)), h('dd', {}, what)])),
      h('div', { class: 'row' }, close));
    document.body.append(dialog);
  }
  if (!dialog.open) dialog.showModal();
}

/** The top bar's button that opens the list. */
export function shortcutsButton() {
  return h('button', { type: 'button', class: 'icon shortcuts-button', 'aria-label': 'Keyboard shortcuts',
    title: 'Keyboard shortcuts (?)', 'aria-haspopup': 'dialog', onclick: showShortcuts }, '?');
}

/**
 * Listen for the shortcuts on the whole page (once, from main.js).
 * @param {(hash: string) => void} navigate
 */
export function installShortcuts(navigate) {
  document.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.isComposing || dialog?.open) return;
    const key = event.key.toLowerCase();
    if (key === 'o' && event.shiftKey && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      navigate('#/chat');
    } else if (event.key === 'Escape' && event.shiftKey) {
      const composer = document.getElementById('composer');
      if (composer) { event.preventDefault(); composer.focus(); }
    } else if (event.key === 'Escape' && handlers.stop) {
      handlers.stop();
    } else if (event.key === '?' && !typing(event.target) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      showShortcuts();
    }
  });
}
