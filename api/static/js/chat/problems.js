// @ts-check
// What to tell a person when an answer cannot be written: the server's own message first,
// then what they can do about it.

const ADVICE = {
  budget_exceeded: 'Your usage budget is spent. Ask an admin to raise it, or wait for the next period.',
  price_unknown: 'This model has no price configured. Pick another model or ask an admin.',
  seat_required: 'You need a seat to chat. Ask an admin of your team to assign you one.',
  model_not_allowed: 'You may not use this model. Pick another one in the model list.',
  model_disabled: 'This model is turned off for your team. Pick another one in the model list.',
  provider_unavailable: 'The model provider is not answering. Try again in a minute, or pick another model.',
  provider_rejected: 'The provider refused this request. Shorten the message or pick another model.',
  shutting_down: 'The server is restarting. Send the message again in a moment.',
  still_streaming: 'An answer in this chat is still being written. Wait for it or press Stop.',
  unavailable: 'A service Switchboard needs is not available. Try again shortly.',
  tool_step_limit: 'The model kept calling tools. Ask again more specifically.',
};

/** {title, message, advice} for an ApiError or an SSE error event's data. */
export function explain(error) {
  const code = error.code || 'error';
  const status = error.status;
  const message = error.message || 'Something went wrong.';
  let advice = ADVICE[code] || '';
  if (code === 'seat_required') advice = seatAdvice(error.details?.admins) || advice;
  if (!advice && status === 429) advice = 'Too many requests right now.';
  const retry = retryAfter(error);
  if (code === 'rate_limited' || status === 429) {
    advice = retry ? `Wait ${retry} s and send again.` : 'Wait a moment and send again.';
  }
  if (!advice && status >= 500) advice = 'Try again in a minute.';
  return { title: titleOf(code, status), message, advice };
}

/** Whom to ask for a seat: the admins the server named ("Ada Admin (ada@example.com)"). */
function seatAdvice(admins) {
  if (!Array.isArray(admins) || !admins.length) return '';
  const names = admins.map((a) => (a.email ? `${a.name} (${a.email})` : a.name));
  const who = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}` : names[0];
  return `You need a seat to chat. Ask ${who} to assign you one.`;
}

function retryAfter(error) {
  const details = error.details || {};
  return details.retryAfter || details.retry_after || null;
}

function titleOf(code, status) {
  if (code === 'budget_exceeded' || status === 402) return 'Budget exceeded';
  if (code === 'seat_required') return 'No seat';
  if (code === 'rate_limited' || status === 429) return 'Rate limited';
  if (code === 'provider_unavailable' || status === 503) return 'Provider unavailable';
  if (code === 'cancelled') return 'Stopped';
  return 'The answer failed';
}
