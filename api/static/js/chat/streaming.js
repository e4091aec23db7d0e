// One answer being written: the SSE stream of POST .../messages (or _regenerate, _edit), its
// events applied to a MessageView, Stop, and re-attaching through .../events with
// Last-Event-ID when the connection drops.

import { api, ApiError, notify, stream } from '/static/js/app.js';
import { explain } from './problems.js';

const RECONNECT_ATTEMPTS = 8;

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

/**
 * Start an answer. Returns {done, stop}: `done` resolves when the answer has ended (or rejects
 * with the ApiError that refused it before it began); `stop()` cancels it on the server.
 */
export function startTurn({ chatId, path, body, view, onStart, method = 'POST' }) {
  const controller = new AbortController();
  const state = { messageId: view.message.id || null, lastId: null, finished: false, stopping: false };
  const base = `/api/chats/${encodeURIComponent(chatId)}`;

  const decide = (callId) => (approve) =>
    api(`${base}/tool-approvals/${encodeURIComponent(callId)}`, { method: 'POST', body: { approve } });

  function onEvent(type, data, id) {
    if (id) state.lastId = id;
    view.reconnecting(false);
    if (type === 'start') {
      state.messageId = data.messageId;
      Object.assign(view.message, { id: data.messageId, model: data.model, status: 'streaming' });
      view.node.dataset.messageId = data.messageId;
      if (data.notice) notify(data.notice, 'info');
      if (onStart) onStart(data);
      if (state.stopping) cancel();
    } else if (type === 'delta') view.append(data.text || '');
    else if (type === 'toolCall') view.toolCall(data);
    else if (type === 'approvalRequired') view.approval(data, decide(data.id));
    else if (type === 'toolResult') view.toolResult(data);
    else if (type === 'citations') view.setCitations(data.citations || []);
    else if (type === 'usage') view.setUsage(data);
    else if (type === 'done') {
      state.finished = true;
      view.message.status = data.status || 'complete';
    } else if (type === 'error') {
      state.finished = true;
      view.message.status = 'failed';
      view.showProblem(explain(data));
    }
  }

  async function follow() {
    for (let attempt = 0; !state.finished && attempt < RECONNECT_ATTEMPTS; attempt += 1) {
      if (controller.signal.aborted || !state.messageId) return;
      view.reconnecting(true);
      if (attempt) await pause(Math.min(500 * 2 ** attempt, 8000), controller.signal);
      if (controller.signal.aborted) return;
      const headers = state.lastId ? { 'Last-Event-ID': state.lastId } : {};
      try {
        await stream(`${base}/messages/${state.messageId}/events`, {
          method: 'GET', headers, signal: controller.signal, onEvent });
      } catch (err) {
        if (err instanceof ApiError && err.status < 500) return;
      }
    }
  }

  async function run() {
    try {
      await stream(path, { method, body, signal: controller.signal, onEvent });
    } catch (err) {
      if (err instanceof ApiError) throw err;
      if (controller.signal.aborted) return;
    }
    if (!state.finished) await follow();
    view.reconnecting(false);
    if (!state.finished && !controller.signal.aborted) {
      view.showProblem({ title: 'Connection lost', message: 'The answer could not be followed.',
        advice: 'Reload the page: the answer goes on being written on the server.' });
    }
  }

  async function cancel() {
    try {
      const saved = await api(`${base}/messages/${state.messageId}/_cancel`, { method: 'POST' });
      if (!state.finished) {
        state.finished = true;
        controller.abort();
        Object.assign(view.message, { status: saved.status });
        view.setText(saved.content || view.message.content || '');
      }
    } catch (err) {
      notify(err.message);
    }
  }

  return {
    done: run(),
    stop() {
      state.stopping = true;
      if (state.messageId) return cancel();
      return Promise.resolve();
    },
    abort() { controller.abort(); },
    get messageId() { return state.messageId; },
  };
}
