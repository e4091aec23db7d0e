// @ts-check
// One answer being written: the SSE stream of POST .../messages (or _regenerate, _edit,
// _continue: `resume`, the answer's text and reasoning so far stay and the stream adds to them), its
// events applied to a MessageView, Stop, and re-attaching through .../events with
// Last-Event-ID when the connection drops.

import { notify } from '../dom.js';
import { api, ApiError, stream } from '../http.js';
import { explain } from './problems.js';

const RECONNECT_ATTEMPTS = 8;

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/** An answer's stream. `done` resolves when the answer has ended, or rejects with the ApiError
 * that refused it before it began; `stop()` cancels it on the server (the text so far is kept). */
class AnswerStream {
  constructor({ chatId, path, body, view, method, resume = false }) {
    this.base = `/api/chats/${encodeURIComponent(chatId)}`;
    this.view = view;
    this.resume = resume;
    this.controller = new AbortController();
    this.messageId = view.message.id || null;
    this.lastId = null;
    this.finished = false;
    this.stopping = false;
    this.onEvent = (type, data, id) => this.apply(type, data, id);
    this.done = this.run(path, method, body);
  }

  apply(type, data, id) {
    const view = this.view;
    if (id) this.lastId = id;
    view.reconnecting(false);
    if (type === 'start') this.started(data);
    else if (type === 'reasoning') view.think(data.text || '');
    else if (type === 'delta') {
      view.stopThinking();
      view.append(data.text || '');
    } else if (type === 'toolCall') {
      view.stopThinking();
      view.toolCall(data);
    } else if (type === 'approvalRequired') view.approval(data, (approve) => this.decide(data.id, approve));
    else if (type === 'toolResult') view.toolResult(data);
    else if (type === 'citations') view.setCitations(data.citations || []);
    else if (type === 'usage') view.setUsage(data);
    else if (type === 'done') {
      this.finished = true;
      view.message.status = data.status || 'complete';
    } else if (type === 'error') {
      this.finished = true;
      view.message.status = 'failed';
      view.showProblem(explain(data));
    }
  }

  started(data) {
    this.messageId = data.messageId;
    if (!this.resume) this.view.setThinking(''); // a stream that starts over replays the reasoning too
    Object.assign(this.view.message, { id: data.messageId, model: data.model, status: 'streaming' });
    this.view.node.dataset.messageId = data.messageId;
    if (data.notice) notify(data.notice, 'info');
    if (this.stopping) this.cancel();
  }

  decide(callId, approve) {
    const path = `${this.base}/tool-approvals/${encodeURIComponent(callId)}`;
    return api(path, { method: 'POST', body: { approve } });
  }

  async run(path, method, body) {
    const signal = this.controller.signal;
    try {
      await stream(path, { method, body, signal, onEvent: this.onEvent });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (signal.aborted) return;
    }
    if (!this.finished) await this.follow();
    this.view.reconnecting(false);
    if (!this.finished && !signal.aborted) {
      this.view.showProblem({ title: 'Connection lost', message: 'The answer could not be followed.',
        advice: 'Reload the page: the answer goes on being written on the server.' });
    }
  }

  /** Re-attach to the answer after the stream ended without `done`, with Last-Event-ID. */
  async follow() {
    const signal = this.controller.signal;
    for (let attempt = 0; !this.finished && attempt < RECONNECT_ATTEMPTS; attempt += 1) {
      if (signal.aborted || !this.messageId) return;
      this.view.reconnecting(true);
      if (attempt) await pause(Math.min(500 * 2 ** attempt, 8000), signal);
      if (signal.aborted) return;
      const headers = this.lastId ? { 'Last-Event-ID': this.lastId } : {};
      try {
        await stream(`${this.base}/messages/${this.messageId}/events`, {
          method: 'GET', headers, signal, onEvent: this.onEvent });
      } catch (err) {
        if (err instanceof ApiError && err.status < 500) return;
      }
    }
  }

  async cancel() {
    try {
      const saved = await api(`${this.base}/messages/${this.messageId}/_cancel`, { method: 'POST' });
      if (this.finished) return;
      this.finished = true;
      this.controller.abort();
      this.view.message.status = saved.status;
      this.view.setText(saved.content || this.view.message.content || '');
    } catch (err) {
      notify(err.message);
    }
  }

  stop() {
    this.stopping = true;
    return this.messageId ? this.cancel() : Promise.resolve();
  }

  abort() {
    this.controller.abort();
  }
}

/**
 * Start streaming an answer into `view` (see AnswerStream).
 * @param {{chatId: string, path: string, body?: unknown, view: import('./thread.js').MessageView, method?: string, resume?: boolean}} turn
 */
export function startTurn({ chatId, path, body, view, method = 'POST', resume = false }) {
  return new AnswerStream({ chatId, path, body, view, method, resume });
}
