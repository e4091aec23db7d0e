// @ts-check
// Light or dark: the system's theme unless the person picks one in the top bar; the choice is
// remembered in this browser (localStorage) and applied as data-theme on <html> (app.css).

import { h } from './dom.js';

const KEY = 'switchboard.theme';
const CHOICES = /** @type {const} */ ([['system', 'System'], ['light', 'Light'], ['dark', 'Dark']]);

/** The remembered choice: 'system', 'light' or 'dark'. */
export function chosenTheme() {
  let value = null;
  try { value = localStorage.getItem(KEY); } catch { /* storage blocked: follow the system */ }
  return value === 'light' || value === 'dark' ? value : 'system';
}

/** @param {string} choice */
export function applyTheme(choice = chosenTheme()) {
  if (choice === 'light' || choice === 'dark') document.documentElement.dataset.theme = choice;
  else delete document.documentElement.dataset.theme;
}

/** The top bar's theme picker. */
export function themeSwitch() {
  const picker = h('select', { class: 'theme-switch', 'aria-label': 'Theme', onchange: () => {
    try { localStorage.setItem(KEY, picker.value); } catch { /* only this page keeps it */ }
    applyTheme(picker.value);
  } }, CHOICES.map(([value, label]) => h('option', { value }, label)));
  picker.value = chosenTheme();
  return picker;
}
