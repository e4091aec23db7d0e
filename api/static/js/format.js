// @ts-check
// How the page writes amounts and times.

/**
 * An amount of micro-dollars as dollars (six decimals below a cent, so small costs do not show as $0.00).
 * @param {number | null | undefined} micros
 */
export function money(micros) {
  const dollars = (micros || 0) / 1e6;
  return dollars < 0.01 && dollars > 0 ? `$${dollars.toFixed(6)}` : `$${dollars.toFixed(2)}`;
}

/**
 * An ISO timestamp in the reader's locale; '' when there is none.
 * @param {string | null | undefined} iso
 */
export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '';
}
