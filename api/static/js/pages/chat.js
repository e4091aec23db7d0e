// @ts-check
// The chat page: the chat list, the model and assistant pickers, the conversation with answers
// streaming in, and the composer. Parts live in /static/js/chat/.

import { h, notify } from '../dom.js';
import { api, ApiError } from '../http.js';
import { emptyState } from '../chat/empty.js';
import { describeModel } from '../chat/modelinfo.js';
import { explain } from '../chat/problems.js';
import { exportLinks, SharePanel, copyText } from '../chat/sharing.js';
import { Sidebar } from '../chat/sidebar.js';
import { startTurn } from '../chat/streaming.js';
import { MessageView, renderAll } from '../chat/thread.js';
import { Attachments, showSent } from '../chat/attachments.js';
import { onShortcuts } from '../shortcuts.js';

// While an answer streams, its Markdown is rendered on the server at most this often.
const PREVIEW_MS = 1500;

class ChatPage {
  constructor(root, params, ctx) {
    this.root = root;
    this.ctx = ctx;
    this.chatId = params.chatId;
    this.chat = null;
    this.views = [];
    this.turn = null;
    this.assistants = [];
    this.sidebar = new Sidebar({
      current: () => this.chatId,
      navigate: ctx.navigate,
      onDeleted: () => ctx.navigate('#/chat'),
      onRenamed: (id, title) => { if (id === this.chatId) this.title.textContent = title; },
    });
    this.build();
    this.dropShortcuts = onShortcuts({ stop: () => this.stopTurn() });
  }

  build() {
    this.title = h('h1', { class: 'chat-heading' }, 'New chat');
    this.model = h('select', { id: 'chat-model', 'aria-describedby': 'chat-model-info',
      onchange: () => { this.showModelInfo(); this.changeModel(); } });
    this.modelInfo = h('span', { id: 'chat-model-info', class: 'model-info muted' });
    this.assistant = h('select', { id: 'chat-assistant', onchange: () => this.showStarters() });
    this.toggle = h('button', { class: 'sidebar-toggle', 'aria-controls': 'chat-sidebar',
      'aria-expanded': 'false', onclick: () => this.toggleSidebar() }, 'Chats');
    this.tools = h('div', { class: 'chat-tools' });
    this.thread = h('div', { class: 'thread', role: 'log', 'aria-label': 'Conversation', 'aria-live': 'off' });
    this.starters = h('div', { class: 'starters', hidden: true });
    this.input = h('textarea', { id: 'composer', rows: 2, placeholder: 'Message (Enter sends, Shift+Enter: new line)',
      onkeydown: (event) => this.onKey(event) });
    this.send = h('button', { type: 'submit', class: 'primary' }, 'Send');
    this.stop = h('button', { type: 'button', class: 'danger', hidden: true, onclick: () => this.stopTurn() }, 'Stop');
    this.files = new Attachments({ chatId: () => this.ensureChat() });
    const composer = h('form', { class: 'composer', onsubmit: (event) => { event.preventDefault(); this.submit(); } },
      h('label', { for: 'composer', class: 'visually-hidden' }, 'Message'), this.files.input, this.files.button,
      this.input, this.send, this.stop);
    this.files.listen(composer);
    this.main = h('section', { class: 'chat-main' },
      h('div', { class: 'chat-head' }, this.toggle, this.title,
        h('label', { class: 'picker' }, 'Model', this.model), this.modelInfo,
        h('label', { class: 'picker' }, 'Assistant', this.assistant), this.tools),
      this.thread, this.starters, this.files.tray, composer);
    this.root.classList.add('chat-page');
    this.root.replaceChildren(h('div', { class: 'chat-layout' }, this.sidebar.node, this.main));
  }

  toggleSidebar(open) {
    const next = open ?? !this.sidebar.node.classList.contains('open');
    this.sidebar.node.classList.toggle('open', next);
    this.toggle.setAttribute('aria-expanded', String(next));
  }

  async load() {
    const opening = this.chatId;
    this.input.disabled = true;
    const [models, assistants] = await Promise.all([
      api('/api/models?usable=true').catch(() => null), api('/api/assistants?limit=200').catch(() => null),
      this.sidebar.loadFolders()]);
    this.fillModels(models?._embedded?.models || []);
    this.assistants = assistants?._embedded?.assistants || [];
    this.assistant.replaceChildren(h('option', { value: '' }, 'None'),
      ...this.assistants.map((a) => h('option', { value: a.id }, a.name)));
    await this.sidebar.reload();
    if (opening) await this.openChat();
    else this.showStarters();
    this.input.disabled = false;
    // Never take the focus from a control the person reached while the page loaded (the search
    // box, the theme picker): what they type must stay where they are typing.
    const focused = document.activeElement;
    if (!focused || focused === document.body) this.input.focus();
  }

  fillModels(models) {
    const usable = models.filter((m) => m.available !== false && m.enabled !== false
      && m.mode !== 'embedding');
    this.models = new Map(usable.map((m) => [m.id, m]));
    this.model.replaceChildren(...usable.map((m) => h('option', { value: m.id, title: describeModel(m) }, m.id)));
    const preferred = usable.find((m) => m.isDefault);
    if (preferred) this.model.value = preferred.id;
    this.showModelInfo();
  }

  showModelInfo() {
    this.modelInfo.textContent = describeModel(this.models?.get(this.model.value));
  }

  async openChat() {
    try {
      this.chat = await api(`/api/chats/${encodeURIComponent(this.chatId)}`);
    } catch (err) {
      this.thread.replaceChildren(h('p', { class: 'error', role: 'alert' }, err.message));
      return;
    }
    this.showChat();
    await this.loadMessages();
  }

  showChat() {
    const chat = this.chat;
    this.title.textContent = chat.title;
    if (chat.model) {
      if (![...this.model.options].some((o) => o.value === chat.model)) this.model.append(h('option', { value: chat.model }, chat.model));
      this.model.value = chat.model;
      this.showModelInfo();
    }
    if (chat.assistantId && ![...this.assistant.options].some((o) => o.value === chat.assistantId)) {
      this.assistant.append(h('option', { value: chat.assistantId }, 'An assistant you no longer see'));
    }
    this.assistant.value = chat.assistantId || '';
    this.assistant.disabled = true;
    this.share = new SharePanel(chat.id);
    this.tools.replaceChildren(exportLinks(chat.id),
      h('button', { class: 'link', 'aria-expanded': 'false', onclick: (event) =>
        event.currentTarget.setAttribute('aria-expanded', String(this.share.toggle())) }, 'Share'));
    this.main.insertBefore(this.share.node, this.thread);
    this.starters.hidden = true;
  }

  async loadMessages() {
    const body = await api(`/api/chats/${encodeURIComponent(this.chatId)}/messages?limit=500`);
    const messages = body._embedded?.messages || [];
    const reading = new Set([...this.thread.querySelectorAll('.msg-thinking[open]')]
      .map((details) => details.closest('.msg')?.dataset.messageId)); // kept open when re-shown
    this.views = messages.map((m) => new MessageView(m, this.actions()));
    for (const view of this.views) view.thought.open = reading.has(view.message.id);
    for (const view of this.views) if (!view.streaming) view.settle();
    this.thread.replaceChildren(...this.views.map((v) => v.node));
    await renderAll(this.views).catch((err) => notify(err.message));
    await showSent(this.chatId, this.views).catch(() => {}); // the files each message carried
    const running = messages.find((m) => m.status === 'streaming');
    if (running) this.follow(running);
    this.thread.scrollTop = this.thread.scrollHeight;
    if (!messages.length) this.showStarters();
  }

  actions() {
    return {
      copy: (view) => copyText(view.message.content),
      isLast: (view) => this.views[this.views.length - 1] === view && !this.turn,
      regenerate: (view) => this.regenerate(view),
      edit: (view, text) => this.edit(view, text),
      correct: (view, text) => this.correct(view, text),
      fork: (view) => this.fork(view),
      continueAnswer: (view) => this.continueAnswer(view),
      switchTo: (messageId) => this.switchTo(messageId),
      assistantName: this.assistants.find((a) => a.id === this.chat?.assistantId)?.name,
    };
  }

  showStarters() {
    const chosen = this.assistants.find((a) => a.id === this.assistant.value);
    const starters = (chosen?.starters || []).filter(Boolean);
    const empty = !this.views.length;
    this.thread.querySelector('.empty-state')?.remove();
    if (empty) this.thread.append(emptyState({ assistant: chosen?.name }));
    this.starters.hidden = !(empty && starters.length);
    this.starters.replaceChildren(...starters.map((text) =>
      h('button', { class: 'starter', onclick: () => { this.input.value = text; this.submit(); } }, text)));
    if (chosen?.model && !this.chatId && [...this.model.options].some((o) => o.value === chosen.model)) {
      this.model.value = chosen.model;
      this.showModelInfo();
    }
  }

  async changeModel() {
    if (!this.chatId) return;
    try {
      this.chat = await api(`/api/chats/${this.chatId}`, { method: 'PATCH', body: { model: this.model.value } });
    } catch (err) {
      notify(err.message);
    }
  }

  onKey(event) {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.submit();
    }
  }

  async ensureChat() {
    if (this.chatId) return this.chatId;
    const body = { model: this.model.value || null, assistantId: this.assistant.value || null };
    this.chat = await api('/api/chats', { method: 'POST', body });
    this.chatId = this.chat.id;
    history.replaceState(null, '', `#/chat/${this.chatId}`);
    this.showChat();
    this.sidebar.reload();
    return this.chatId;
  }

  async submit() {
    const text = this.input.value;
    if (!text.trim() || this.turn) return;
    this.input.value = '';
    try {
      await this.ensureChat();
    } catch (err) {
      this.input.value = text;
      this.showProblem(err);
      return;
    }
    this.starters.hidden = true;
    this.thread.querySelector('.empty-state')?.remove();
    const mine = new MessageView({ role: 'user', content: text, status: 'complete' }, this.actions());
    this.thread.append(mine.node);
    const attachmentIds = await this.files.take();
    const path = `/api/chats/${this.chatId}/messages`;
    const failed = await this.run(path, { content: text, attachmentIds, stream: true, model: this.model.value || undefined });
    if (failed) {
      this.input.value = text;
      this.files.restore(); // to send them again, with another model for instance
    }
  }

  regenerate(view) {
    const path = `/api/chats/${this.chatId}/messages/${view.message.id}/_regenerate`;
    view.node.remove();
    this.views = this.views.filter((v) => v !== view);
    return this.run(path, { stream: true, model: this.model.value || undefined });
  }

  edit(view, text) {
    const path = `/api/chats/${this.chatId}/messages/${view.message.id}/_edit`;
    const at = this.views.indexOf(view);
    for (const later of this.views.slice(at)) later.node.remove();
    this.views = this.views.slice(0, at);
    const mine = new MessageView({ role: 'user', content: text, status: 'complete' }, this.actions());
    this.thread.append(mine.node);
    return this.run(path, { content: text, stream: true, model: this.model.value || undefined });
  }

  /** Save the person's correction of an answer (in place, not billed) and show it. */
  async correct(view, text) {
    await api(`/api/chats/${this.chatId}/messages/${view.message.id}`, { method: 'PATCH', body: { content: text } });
    await this.loadMessages();
    this.views.find((v) => v.message.id === view.message.id)?.buttons.querySelector('.edit-answer')?.focus();
  }

  /** Open a new chat holding the conversation up to this answer. */
  async fork(view) {
    try {
      const copy = await api(`/api/chats/${this.chatId}/messages/${view.message.id}/_fork`, { method: 'POST' });
      notify(`Branched off into “${copy.title}”.`, 'info');
      this.ctx.navigate(`#/chat/${copy.id}`);
    } catch (err) {
      notify(err.message);
    }
  }

  /** The last answer goes on where it stopped; the new text streams onto the end of it. */
  continueAnswer(view) {
    const path = `/api/chats/${this.chatId}/messages/${view.message.id}/_continue`;
    view.message.status = 'streaming';
    view.setText(view.message.content || '');
    view.note.hidden = true;
    view.buttons.replaceChildren();
    view.node.classList.add('streaming');
    const body = { stream: true };
    return this.watch(view, startTurn({ chatId: this.chatId, path, body, view, resume: true }));
  }

  async switchTo(messageId) {
    try {
      await api(`/api/chats/${this.chatId}/_switch`, { method: 'POST', body: { messageId } });
      await this.loadMessages();
    } catch (err) {
      notify(err.message);
    }
  }

  /** Stream an answer from `path`; true when it was refused before it began. */
  async run(path, body) {
    const view = new MessageView({ role: 'assistant', chatId: this.chatId, content: '', status: 'streaming', model: this.model.value }, this.actions());
    view.node.classList.add('streaming');
    this.thread.append(view.node);
    this.thread.scrollTop = this.thread.scrollHeight;
    return this.watch(view, startTurn({ chatId: this.chatId, path, body, view }));
  }

  follow(message) {
    const view = this.views.find((v) => v.message.id === message.id);
    view.setText('');
    view.node.classList.add('streaming');
    const path = `/api/chats/${this.chatId}/messages/${message.id}/events`;
    return this.watch(view, startTurn({ chatId: this.chatId, path, view, method: 'GET' }), true);
  }

  async watch(view, turn, following = false) {
    this.turn = turn;
    this.busy(true);
    const previews = setInterval(() => view.preview(), PREVIEW_MS);
    let refusal = null;
    try {
      await turn.done;
    } catch (err) {
      refusal = err;
    } finally {
      clearInterval(previews);
      this.turn = null;
      this.busy(false);
    }
    if (!following || !refusal) await this.loadMessages().catch((err) => notify(err.message));
    const last = this.views[this.views.length - 1];
    const saidSo = last && last.message.role === 'assistant' && !last.problem.hidden;
    if (refusal && !saidSo) this.showProblem(refusal);
    this.sidebar.reload();
    this.refreshTitle();
    return refusal instanceof ApiError;
  }

  async refreshTitle() {
    try {
      this.chat = await api(`/api/chats/${encodeURIComponent(this.chatId)}`);
      this.title.textContent = this.chat.title;
    } catch { /* the chat list shows the title too */ }
  }

  busy(on) {
    this.send.hidden = on;
    this.stop.hidden = !on;
    if (on) this.stop.focus(); else this.input.focus();
  }

  async stopTurn() {
    if (this.turn) await this.turn.stop();
  }

  showProblem(err) {
    const problem = explain(err);
    const box = h('div', { class: 'msg-problem standalone', role: 'alert' },
      h('strong', {}, problem.title), ' ', h('span', {}, problem.message),
      problem.advice ? h('p', { class: 'advice' }, problem.advice) : null);
    this.thread.append(box);
  }

  cleanup() {
    this.dropShortcuts?.();
    if (this.turn) this.turn.abort?.();
  }
}

export async function render(root, params, ctx) {
  const page = new ChatPage(root, params, ctx);
  await page.load();
  return () => page.cleanup();
}
