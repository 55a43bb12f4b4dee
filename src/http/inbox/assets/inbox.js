// The inbox page: the conversations a flow handed to a person (oldest waiting first), one
// conversation's history, a reply box (free text while the 24-hour window is open, an
// approved template once it closed) and a release back to the bot. It polls every 3 s and
// redraws only what changed. The API key is asked once and kept in this tab's
// sessionStorage; it goes out as `Authorization: Bearer`.
'use strict';

const KEY = 'parley-inbox-key';
const POLL_MS = 3000;
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

let key = sessionStorage.getItem(KEY);
let current = null;       // the open conversation's id
let conversation = null;  // its last answer
let list = [];
const drawn = { list: '', head: '', templates: '' };
const released = new Set();
let busy = false;

class Stop extends Error {}

function showError(text) {
  const e = $('error');
  e.textContent = text || '';
  e.hidden = !text;
}

function askKey(problem) {
  const p = $('key-problem');
  p.textContent = problem || '';
  p.hidden = !problem;
  $('key').value = '';
  if (!$('key-dialog').open) $('key-dialog').showModal();
  $('key').focus();
}

function forgetKey(problem) {
  key = null;
  sessionStorage.removeItem(KEY);
  askKey(problem);
}

// A call to /api/inbox/…: its JSON, or an Error whose message a person can read.
async function api(method, path, body) {
  if (!key) {
    askKey();
    throw new Stop('no key');
  }
  const headers = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (_) {
    throw new Error('Parley could not be reached: check the connection. The page tries again every 3 seconds.');
  }
  let j = null;
  try { j = await r.json(); } catch (_) { /* not JSON */ }
  const said = j && (j.error || j.message || j.detail);
  if (r.status === 401) {
    forgetKey('That key was not accepted: check it and enter it again.');
    throw new Stop('wrong key');
  }
  if (r.status === 403 && j && j.error_code === 'FORBIDDEN') {
    forgetKey(`This key may not use the inbox. ${said || ''}`);
    throw new Stop('key not allowed');
  }
  if (r.status === 429) throw new Error('Too many requests with this key: wait a few seconds.');
  if (!r.ok) {
    const e = new Error(said || `Parley answered ${r.status}.`);
    e.code = j && j.error_code;
    e.status = r.status;
    throw e;
  }
  return j;
}

// --- Times ---------------------------------------------------------------------------

function clock(iso) {
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return today ? time : `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

function span(ms) {
  const m = Math.max(0, Math.floor(ms / 60000));
  if (m < 1) return 'less than a minute';
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

function waitingText(c) {
  if (!c.waiting.since) return { text: 'answered', cls: 'answered' };
  return { text: `waiting ${span(Date.now() - new Date(c.waiting.since))}`, cls: '' };
}

function whoText(c) {
  return c.contact.name || c.contact.phone || c.contact.username || c.contact.user_id || `conversation ${c.id}`;
}

// --- The list -------------------------------------------------------------------------

function drawList() {
  const shown = list.filter((c) => !released.has(c.id));
  $('summary').textContent = shown.length === 1 ? '1 conversation handed to a person' : `${shown.length} conversations handed to a person`;
  const html = shown.length === 0
    ? '<p class="muted pad">Nobody is waiting: no conversation is handed to a person now.</p>'
    : shown.map((c) => {
      const w = waitingText(c);
      const last = c.last_message ? `${c.last_message.direction === 'outbound' ? '↩ ' : ''}${c.last_message.text}` : '';
      return `<button type="button" class="item${c.id === current ? ' active' : ''}" data-id="${c.id}">`
        + `<div class="top"><span class="name">${esc(whoText(c))}</span><span class="wait ${w.cls}">${esc(w.text)}</span></div>`
        + `<div class="preview">${esc(last)}</div>`
        + `<div class="meta">${esc(c.contact.phone || '')} · ${esc(c.sender.name || `sender ${c.sender.id}`)} · ${c.window.is_open ? 'window open' : 'window closed'}</div>`
        + '</button>';
    }).join('');
  if (html === drawn.list) return;
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
  $('list').innerHTML = html;
  drawn.list = html;
  if (focused) {
    const again = $('list').querySelector(`.item[data-id="${focused}"]`);
    if (again) again.focus();
  }
}

$('list').addEventListener('click', (e) => {
  const item = e.target.closest('.item');
  if (item) open(Number(item.dataset.id));
});

$('list').addEventListener('keydown', (e) => {
  const items = [...$('list').querySelectorAll('.item')];
  const at = items.indexOf(document.activeElement);
  if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
    e.preventDefault();
    const next = items[Math.min(items.length - 1, Math.max(0, at + (e.key === 'ArrowDown' ? 1 : -1)))];
    if (next) next.focus();
  }
});

// --- One conversation ------------------------------------------------------------------

async function open(id) {
  current = id;
  conversation = null;
  drawn.head = drawn.templates = '';
  $('history').replaceChildren();
  $('text').value = '';
  $('reply-status').textContent = '';
  drawList();
  await loadConversation(true);
  if (conversation && conversation.conversation.window.is_open) $('text').focus();
}

async function loadConversation(first) {
  if (current === null) return;
  const id = current;
  try {
    const j = await api('GET', `/api/inbox/conversations/${id}`);
    if (id !== current) return;
    conversation = j;
    drawConversation(first);
  } catch (e) {
    if (e instanceof Stop) return;
    if (e.status === 404) {
      closeConversation('This conversation is no longer handed to a person: the bot answers it again.');
      return;
    }
    throw e;
  }
}

function closeConversation(why) {
  current = null;
  conversation = null;
  $('open').hidden = true;
  $('empty').hidden = false;
  if (why) $('empty').innerHTML = `<p>${esc(why)}</p><p class="muted">Pick a conversation on the left.</p>`;
  drawList();
}

function message(m) {
  if (m.direction === 'system') return `<div class="msg system" data-key="${esc(m.key)}">${esc(m.text)} · ${esc(clock(m.at))}</div>`;
  const person = m.author ? `Person · ${m.author}` : 'Person';
  const by = esc(m.direction === 'inbound' ? 'Customer' : m.by === 'person' ? person : m.by === 'broadcast' ? 'Broadcast' : 'Bot');
  const cls = m.direction === 'inbound' ? 'inbound' : `outbound ${m.by}`;
  const failed = m.status === 'failed'
    ? `<div class="failed">Not delivered${m.error_title ? `: ${esc(m.error_title)}` : ''}${m.window_closed ? ' (the 24-hour window had closed)' : ''}</div>`
    : '';
  const status = m.direction === 'outbound' && m.status !== 'failed' ? ` · ${esc(m.status)}` : '';
  return `<div class="msg ${cls}" data-key="${esc(m.key)}"><div class="by">${by}</div>${esc(m.text)}${failed}<div class="when">${esc(clock(m.at))}${status}</div></div>`;
}

function drawConversation(first) {
  const c = conversation.conversation;
  $('empty').hidden = true;
  $('open').hidden = false;
  const until = c.handoff.until ? `, back to the bot at ${clock(c.handoff.until)} unless released earlier` : '';
  const head = `${whoText(c)}|${c.contact.phone || ''} · ${c.sender.name || `sender ${c.sender.id}`} · flow ${c.flow} · with a person since ${clock(c.handoff.since)}${until}|${JSON.stringify(c.window)}`;
  if (head !== drawn.head) {
    const [who, facts] = head.split('|');
    $('who').textContent = who;
    $('facts').textContent = facts;
    const badge = $('window');
    if (c.window.is_open) {
      badge.className = 'badge';
      badge.textContent = `Window open until ${clock(c.window.expires_at)} (${span(new Date(c.window.expires_at) - Date.now())} left)`;
    } else {
      badge.className = 'badge closed';
      badge.textContent = 'Window closed';
    }
    drawn.head = head;
  }
  drawHistory(conversation.messages, first);
  drawReplyBox(c);
}

// Each message keeps its node while it does not change (no flicker, a selection survives
// the polling); a new or changed one gets a new node.
const drawnAs = new WeakMap();
function drawHistory(messages, first) {
  const history = $('history');
  const old = new Map([...history.children].map((n) => [n.dataset.key, n]));
  let changed = history.children.length !== messages.length;
  const nodes = messages.map((m, i) => {
    const html = message(m);
    const kept = old.get(m.key);
    if (kept && drawnAs.get(kept) === html) {
      if (history.children[i] !== kept) changed = true;
      return kept;
    }
    changed = true;
    const holder = document.createElement('div');
    holder.innerHTML = html;
    const node = holder.firstElementChild;
    drawnAs.set(node, html);
    return node;
  });
  if (!changed) return;
  const atBottom = first || history.scrollHeight - history.scrollTop - history.clientHeight < 40;
  history.replaceChildren(...nodes);
  if (messages.length === 0) history.innerHTML = '<p class="muted">No messages yet.</p>';
  if (atBottom) history.scrollTop = history.scrollHeight;
}

function drawReplyBox(c) {
  const open = c.window.is_open;
  $('free').hidden = !open;
  $('closed').hidden = open;
  if (open) return;
  const closedAt = c.window.expires_at ? ` at ${clock(c.window.expires_at)}` : '';
  const templates = conversation.templates;
  $('closed-why').textContent = templates.length
    ? `The 24-hour window closed${closedAt}. WhatsApp delivers free text only within 24 hours of the customer's last message, so send an approved template; the window opens again when the customer writes.`
    : `The 24-hour window closed${closedAt}, and no approved template can be sent from this sender: add one under templates: in Parley's config.`;
  const names = JSON.stringify(templates);
  if (names === drawn.templates) return;
  drawn.templates = names;
  const chosen = $('template').value;
  $('template').innerHTML = templates.map((t) => `<option value="${t.id}">${esc(t.name)} (${esc(t.language)})</option>`).join('');
  if (templates.some((t) => String(t.id) === chosen)) $('template').value = chosen;
  $('send-template').disabled = templates.length === 0;
  drawPlaceholders();
}

function chosenTemplate() {
  return conversation && conversation.templates.find((t) => String(t.id) === $('template').value);
}

function drawPlaceholders() {
  const t = chosenTemplate();
  $('placeholders').innerHTML = t ? t.placeholders.map((p) => `<div class="row"><label for="ph-${esc(p)}">{{${esc(p)}}}</label><input id="ph-${esc(p)}" data-name="${esc(p)}" placeholder="value for {{${esc(p)}}}" required></div>`).join('') : '';
  drawPreview();
}

function drawPreview() {
  const t = chosenTemplate();
  if (!t) { $('template-preview').textContent = ''; return; }
  let body = t.body;
  for (const input of $('placeholders').querySelectorAll('input')) {
    body = body.split(`{{${input.dataset.name}}}`).join(input.value || `{{${input.dataset.name}}}`);
  }
  $('template-preview').textContent = body;
}

$('template').addEventListener('change', drawPlaceholders);
$('placeholders').addEventListener('input', drawPreview);

function replyStatus(text, bad) {
  $('reply-status').textContent = text;
  $('reply-status').className = bad ? 'bad' : 'muted';
}

async function send() {
  if (busy || current === null || !conversation) return;
  const open = conversation.conversation.window.is_open;
  let body;
  if (open) {
    const text = $('text').value;
    if (!text.trim()) { replyStatus('Write something first.', true); return; }
    body = { text };
  } else {
    const t = chosenTemplate();
    if (!t) { replyStatus('Choose a template.', true); return; }
    const variables = {};
    for (const input of $('placeholders').querySelectorAll('input')) {
      if (!input.value.trim()) { replyStatus(`Fill in {{${input.dataset.name}}}.`, true); input.focus(); return; }
      variables[input.dataset.name] = input.value;
    }
    body = { template_id: t.id, variables };
  }
  busy = true;
  $('send').disabled = $('send-template').disabled = true;
  replyStatus('Sending…');
  try {
    await api('POST', `/api/inbox/conversations/${current}/reply`, body);
    if (open) $('text').value = '';
    else for (const input of $('placeholders').querySelectorAll('input')) input.value = '';
    drawPreview();
    replyStatus('Sent: queued for delivery.');
    await loadConversation();
  } catch (e) {
    if (!(e instanceof Stop)) {
      replyStatus(e.code === 'WINDOW_CLOSED' ? e.message : `Not sent: ${e.message}`, true);
      if (e.code === 'WINDOW_CLOSED') await loadConversation().catch(() => {});
    }
  } finally {
    busy = false;
    $('send').disabled = false;
    $('send-template').disabled = !conversation || conversation.templates.length === 0;
  }
}

$('reply').addEventListener('submit', (e) => { e.preventDefault(); send(); });
$('text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
  if (e.key === 'Escape') {
    const item = $('list').querySelector('.item.active');
    if (item) item.focus();
  }
});

$('release').addEventListener('click', async () => {
  if (current === null) return;
  const id = current;
  $('release').disabled = true;
  try {
    await api('POST', `/api/inbox/conversations/${id}/release`, {});
    released.add(id);
    closeConversation('Given back to the bot: it answers this customer again.');
  } catch (e) {
    if (!(e instanceof Stop)) showError(`The conversation was not given back: ${e.message}`);
  } finally {
    $('release').disabled = false;
  }
});

// --- The key and the polling -----------------------------------------------------------

$('key-form').addEventListener('submit', () => {
  const value = $('key').value.trim();
  if (!value) return;
  key = value;
  sessionStorage.setItem(KEY, key);
  showError('');
  refresh();
});

$('key-dialog').addEventListener('close', () => {
  if (!key) showError('No API key: the inbox shows nothing without one. Use "Change key" to enter it.');
});

$('change-key').addEventListener('click', () => forgetKey());

async function refresh() {
  if (!key) { askKey(); return; }
  try {
    const j = await api('GET', '/api/inbox/conversations');
    list = j.conversations;
    for (const id of [...released]) if (!list.some((c) => c.id === id)) released.delete(id);
    drawList();
    await loadConversation();
    showError('');
  } catch (e) {
    if (!(e instanceof Stop)) showError(e.message);
  }
}

refresh();
setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
