// @ts-check
// A model of the picker in words: what it can do, its context window and its price per million
// tokens (from GET /api/models: `capabilities`, `contextWindow`, `promptPpm`, `completionPpm`).

const CAN = [['vision', 'Sees images'], ['tools', 'Tools'], ['reasoning', 'Reasoning'], ['pdfInput', 'Reads PDFs']];

function tokens(count) {
  if (!count) return '';
  return count >= 1_000_000 ? `${+(count / 1_000_000).toFixed(1)}M` : `${Math.round(count / 1000)}k`;
}

function dollars(perMillion) {
  return perMillion < 0.01 ? `$${perMillion.toPrecision(2)}` : `$${perMillion.toFixed(2)}`;
}

/** One line about a model, e.g. "Sees images · Tools · 128k context · $0.15 in / $0.60 out per 1M tokens". */
export function describeModel(model) {
  if (!model) return '';
  const caps = model.capabilities || {};
  const parts = CAN.filter(([key]) => caps[key]).map(([, words]) => words);
  if (model.contextWindow) parts.push(`${tokens(model.contextWindow)} context`);
  if (model.promptPpm != null && model.completionPpm != null) {
    parts.push(`${dollars(model.promptPpm)} in / ${dollars(model.completionPpm)} out per 1M tokens`);
  } else parts.push('price not set');
  return parts.join(' · ');
}
