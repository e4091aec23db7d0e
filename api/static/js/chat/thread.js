// @ts-check
// One message of a chat on the page: its text (plain while streaming, server-rendered Markdown
// once done), tool calls folded with their results, approval prompts, citations, figures and
// the actions on it (copy, regenerate, edit, switch between branches, rate; under an answer also
// edit, branch off and continue: answer_actions.js). A reasoning model's
// thinking sits folded above the answer ("Thinking…", then "Thought for 12 s"), as plain text.

import { h } from '../dom.js';
import { money } from '../format.js';
import { renderMarkdown } from '../http.js';
import { markdownView } from '../markdown_view.js';
import { explain } from './problems.js';
import { answerButtons, continueButton } from './answer_actions.js';
import { ratingControls } from './rating.js';

const STATUS_NOTES = {
  cancelled: 'Stopped — the text so far is kept.',
  incomplete: 'Cut off before the end.',
  interrupted: 'Interrupted — the server stopped while writing.',
  failed: 'Failed.',
};

function pretty(value) {
  if (typeof value === 'string') {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
  }
  return JSON.stringify(value ?? {}, null, 2);
}

// Tools reach the model as `<toolkit id>__<tool>`; people know them by the tool's name.
function shortName(name) {
  return String(name || 'tool').split('__').pop() || String(name);
}

/** The page's view of one message; `actions` holds callbacks for its buttons. */
export class MessageView {
  constructor(message, actions) {
    this.message = { ...message };
    this.actions = actions;
    this.tools = new Map();
    this.body = h('div', { class: 'msg-body' });
    this.toolBox = h('div', { class: 'msg-tools' });
    this.citeBox = h('nav', { class: 'msg-citations', 'aria-label': 'Sources', hidden: true });
    this.problem = h('div', { class: 'msg-problem', role: 'alert', hidden: true });
    this.note = h('p', { class: 'msg-note muted', hidden: true });
    this.figures = h('span', { class: 'msg-figures muted' });
    this.buttons = h('span', { class: 'msg-actions' });
    this.thoughtSummary = h('summary', {}, 'Thinking…');
    this.thoughtText = h('div', { class: 'thinking-text' });
    this.thought = h('details', { class: 'msg-thinking', hidden: true }, this.thoughtSummary, this.thoughtText);
    const who = message.role === 'user' ? 'You'
      : [actions.assistantName, message.model].filter(Boolean).join(' · ') || 'Assistant';
    this.node = h('article', {
      class: `msg msg-${message.role}`, dataset: { messageId: message.id || '' },
      'aria-label': message.role === 'user' ? 'Your message' : 'Answer',
    },
    h('header', { class: 'msg-head' }, h('strong', {}, who)),
    this.thought, this.toolBox, this.body, this.citeBox, this.note, this.problem,
    h('footer', { class: 'msg-foot' }, this.figures, this.buttons));
    this.setText(message.content || '');
    this.setThinking(message.reasoning || '');
    for (const event of message.toolEvents || []) this.toolSaved(event);
    this.setCitations(message.citations || []);
    if (message.status && message.status !== 'streaming') this.settle();
  }

  get streaming() { return this.message.status === 'streaming'; }

  setText(text) {
    this.message.content = text;
    this.renderedUpTo = 0;
    this.tail = h('span', { class: 'plain' }, text);
    this.body.replaceChildren(this.tail);
  }

  append(text) {
    // The thread scrolls on its own; it follows the answer while its reader is at the bottom.
    const thread = this.node.closest('.thread');
    const following = thread && thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
    this.message.content = (this.message.content || '') + text;
    if (this.tail && this.tail.isConnected) this.tail.append(text);
    else this.setText(this.message.content);
    if (following) thread.scrollTop = thread.scrollHeight;
  }

  /** While streaming: the text so far as server-rendered Markdown, what came later as text. */
  async preview() {
    const text = this.message.content || '';
    if (!this.streaming || text.length <= this.renderedUpTo || this.previewing) return;
    this.previewing = true;
    try {
      const [safe] = await renderMarkdown([text]);
      if (!this.streaming || !this.tail || !this.tail.isConnected) return;
      this.renderedUpTo = text.length;
      this.tail.textContent = (this.message.content || '').slice(text.length);
      const rendered = markdownView(safe);
      this.body.replaceChildren(rendered);
      // Later text carries on the last paragraph, as it will once rendered.
      const last = rendered.lastElementChild;
      (last && last.tagName === 'P' ? last : this.body).append(this.tail);
    } catch { /* the plain text stays; the final answer is rendered when it is done */ } finally {
      this.previewing = false;
    }
  }

  /** Show server-rendered Markdown (SafeHtml) in place of the plain text. */
  showRendered(safe) {
    this.tail = null;
    this.body.replaceChildren(markdownView(safe));
  }

  toolBlock(id, name) {
    let tool = this.tools.get(id);
    if (tool) return tool;
    const state = h('span', { class: 'tool-state muted' }, 'running');
    const args = h('pre', { class: 'tool-args' });
    const result = h('pre', { class: 'tool-result' }, '…');
    const ask = h('div', { class: 'tool-approval', hidden: true });
    const details = h('details', { class: 'tool-call' },
      h('summary', {}, 'Tool ', h('code', { title: name || '' }, shortName(name)), ' ', state),
      h('p', { class: 'tool-label' }, 'Arguments'), args,
      h('p', { class: 'tool-label' }, 'Result'), result);
    tool = { details, state, args, result, ask, name };
    this.tools.set(id, tool);
    this.toolBox.append(h('div', { class: 'tool' }, details, ask));
    return tool;
  }

  toolCall({ id, name, arguments: args }) {
    const tool = this.toolBlock(id, name);
    tool.args.textContent = pretty(args);
  }

  toolResult({ id, ok, content }) {
    const tool = this.toolBlock(id, null);
    tool.state.textContent = ok ? 'done' : 'failed';
    tool.state.classList.toggle('error', !ok);
    tool.result.textContent = content ?? '';
    tool.ask.hidden = true;
    tool.ask.replaceChildren();
  }

  toolSaved(event) {
    this.toolCall(event);
    this.toolResult(event);
  }

  /** Replace the reasoning shown (a saved message's, or none before a stream replays it). */
  setThinking(text) {
    this.message.reasoning = text;
    if (!text) this.message.reasoningMs = null; // measured here while it streams again
    this.thoughtText.textContent = text;
    this.thought.hidden = !text;
    this.thinkingSince = null;
    this.thinkingMs = 0;
    this.showThought();
  }

  /** More streamed reasoning: "Thinking…" until the model answers (see `stopThinking`). */
  think(text) {
    if (!text) return;
    this.message.reasoning = (this.message.reasoning || '') + text;
    this.thoughtText.append(text);
    this.thought.hidden = false;
    if (this.thinkingSince === null) this.thinkingSince = performance.now();
    this.showThought();
  }

  /** The model answers, calls a tool or ended: count the time it spent reasoning. */
  stopThinking() {
    if (this.thinkingSince === null) return;
    this.thinkingMs += performance.now() - this.thinkingSince;
    this.thinkingSince = null;
    this.showThought();
  }

  showThought() {
    const ms = this.message.reasoningMs ?? this.thinkingMs;
    const seconds = Math.max(1, Math.round(ms / 1000));
    this.thoughtSummary.textContent = this.thinkingSince !== null ? 'Thinking…' : `Thought for ${seconds} s`;
  }

  /** Ask the person to allow or refuse a call; `decide(approve)` posts the decision. */
  approval({ id, name, arguments: args }, decide) {
    const tool = this.toolBlock(id, name);
    tool.args.textContent = pretty(args);
    tool.state.textContent = 'waiting for your approval';
    const status = h('span', { class: 'muted', role: 'status' });
    const choose = (approve) => async () => {
      for (const button of tool.ask.querySelectorAll('button')) button.disabled = true;
      try {
        await decide(approve);
        status.textContent = approve ? 'Allowed.' : 'Refused.';
      } catch (err) {
        status.textContent = err.message;
        for (const button of tool.ask.querySelectorAll('button')) button.disabled = false;
      }
    };
    tool.ask.replaceChildren(
      h('p', {}, 'The model wants to run ', h('code', { title: name }, shortName(name)),
        '. It may change something outside this chat.'),
      h('pre', { class: 'tool-args' }, pretty(args)),
      h('div', { class: 'row' },
        h('button', { class: 'primary', onclick: choose(true) }, 'Allow'),
        h('button', { class: 'danger', onclick: choose(false) }, 'Refuse'), status));
    tool.ask.hidden = false;
    tool.ask.querySelector('button').focus();
  }

  /** Say that the connection dropped and the page is re-attaching to the answer. */
  reconnecting(on) {
    if (!on && !this.node.classList.contains('reconnecting')) return;
    this.node.classList.toggle('reconnecting', on);
    this.note.hidden = !on;
    this.note.textContent = on ? 'Connection lost — reconnecting…' : '';
  }

  setCitations(citations) {
    this.message.citations = citations;
    this.citeBox.hidden = !citations.length;
    this.citeBox.replaceChildren(
      h('span', { class: 'muted' }, 'Sources'),
      h('ol', {}, citations.map((c) => h('li', {}, citationLink(c)))));
  }

  setUsage(usage) {
    Object.assign(this.message, usage);
  }

  showProblem(problem) {
    this.problem.hidden = false;
    this.problem.replaceChildren(
      h('strong', {}, problem.title), ' ', h('span', {}, problem.message),
      problem.advice ? h('p', { class: 'advice' }, problem.advice) : null);
  }

  /** The message is finished: figures, status note and the buttons that fit. */
  settle() {
    const m = this.message;
    const note = STATUS_NOTES[m.status];
    this.note.hidden = !note;
    this.note.textContent = note || '';
    this.stopThinking();
    if (m.errorMessage && m.status !== 'complete' && m.status !== 'cancelled' && this.problem.hidden) {
      this.showProblem(explain({ code: m.errorCode, message: m.errorMessage }));
    }
    if (m.role === 'assistant' && (m.promptTokens || m.completionTokens || m.costMicros)) {
      this.figures.textContent = `${m.promptTokens || 0} in · ${m.completionTokens || 0} out tokens · ${money(m.costMicros)}`;
    }
    if (m.edited && !this.figures.textContent.endsWith('edited')) this.figures.append(' · edited');
    this.buttons.replaceChildren(...this.actionButtons());
  }

  actionButtons() {
    const m = this.message;
    const a = this.actions;
    const out = [];
    const siblings = m.siblingIds || [];
    if (siblings.length > 1 && a.switchTo) {
      const i = m.siblingIndex || 0;
      out.push(h('span', { class: 'branches', role: 'group', 'aria-label': 'Versions' },
        h('button', { class: 'icon', 'aria-label': 'Previous version', disabled: i === 0,
          onclick: () => a.switchTo(siblings[i - 1]) }, '‹'),
        h('span', { class: 'branch-count' }, `${i + 1}/${siblings.length}`),
        h('button', { class: 'icon', 'aria-label': 'Next version', disabled: i >= siblings.length - 1,
          onclick: () => a.switchTo(siblings[i + 1]) }, '›')));
    }
    if (m.content) out.push(h('button', { class: 'link', onclick: () => a.copy(this) }, 'Copy'));
    if (m.role === 'user' && m.id && a.edit) {
      out.push(h('button', { class: 'link', onclick: () => this.startEdit() }, 'Edit'));
    }
    if (m.role === 'assistant') out.push(...answerButtons(this, a));
    if (m.role === 'assistant' && m.id && m.chatId && !this.streaming && a.rate !== false) {
      out.push(ratingControls(this));
    }
    if (m.role === 'assistant') out.push(...continueButton(this, a));
    if (m.role === 'assistant' && a.isLast(this) && a.regenerate) {
      out.push(h('button', { class: 'link', onclick: () => a.regenerate(this) }, 'Regenerate'));
    }
    return out;
  }

  startEdit() {
    const box = h('textarea', { class: 'edit-box', rows: 3, 'aria-label': 'Edit your message' });
    box.value = this.message.content;
    const form = h('form', { class: 'edit-form', onsubmit: (event) => {
      event.preventDefault();
      if (box.value.trim()) this.actions.edit(this, box.value);
    } }, box, h('div', { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, 'Save and answer'),
      h('button', { type: 'button', onclick: () => form.replaceWith(this.body) }, 'Cancel')));
    this.body.replaceWith(form);
    box.focus();
  }
}

/** Render the Markdown of finished messages on the server and show it (one request). */
export async function renderAll(views) {
  const done = views.filter((v) => !v.streaming && v.message.content);
  const html = await renderMarkdown(done.map((v) => v.message.content));
  done.forEach((view, i) => view.showRendered(html[i]));
}

/** A citation's link: a web page (kind `url`, http(s) only) in a new tab, else the library passage. */
function citationLink(c) {
  if (c.kind === 'url') {
    let page = null;
    try { page = new URL(c.url); } catch { /* shown without a link */ }
    const web = page && /^https?:$/.test(page.protocol) ? page : null;
    return h('a', { href: web ? web.href : undefined, target: '_blank', rel: 'noopener noreferrer nofollow',
      title: c.snippet || c.url || '' }, `[${c.number}] ${c.title || c.url}${web ? ` · ${web.host}` : ''}`);
  }
  return h('a', { href: `#/files/${encodeURIComponent(c.fileId)}/passages/${c.chunkIndex ?? 0}`,
    title: c.snippet || '' },
  `[${c.number}] ${c.fileName}${c.page ? `, page ${c.page}` : ''}`);
}
