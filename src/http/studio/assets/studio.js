// The studio page: the files on the left, the editor in the middle (StudioEditor, the
// CodeMirror bundle), the drawing (StudioGraph) and the Try / Tests / History tabs on
// the right. Everything it knows comes from /studio/api/… (see src/http/studio/).
(() => {
  const $ = (s) => document.querySelector(s);
  const make = (tag, cls, content) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (content !== undefined) e.textContent = content;
    return e;
  };

  const KINDS = [
    ['flow', 'Flows'], ['test', 'Tests'], ['script', 'Scripts'],
    ['knowledge', 'Knowledge'], ['rules', 'Model rules'], ['eval', 'Evaluations'],
  ];

  const state = {
    files: [], path: null, version: null, saved: '', dirty: false,
    graph: null, drawing: null, checks: 0, problems: [],
    failures: [], transcript: [], trace: null, numbers: null,
  };

  // ---- talking to Parley -------------------------------------------------------------
  const KEY = 'parley-studio-key';
  let asking = null;
  async function askKey() {
    if (!asking) {
      asking = Promise.resolve().then(() => {
        const given = window.prompt('This studio asks for an API key allowed to edit flows. Paste it here (it is kept only until you close this tab):');
        if (given && given.trim()) sessionStorage.setItem(KEY, given.trim());
        return Boolean(given && given.trim());
      }).finally(() => { setTimeout(() => { asking = null; }, 0); });
    }
    return asking;
  }

  /// `{status, ok, data}` of a call to /studio/api/`path`; a 401 asks for the key once.
  async function api(method, path, body) {
    for (let attempt = 0; ; attempt++) {
      const headers = {};
      if (body !== undefined) headers['content-type'] = 'application/json';
      const key = sessionStorage.getItem(KEY);
      if (key) headers.authorization = `Bearer ${key}`;
      let r;
      try {
        r = await fetch(`/studio/api/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (e) {
        return { status: 0, ok: false, data: { error: { message: 'Parley does not answer (is it running?)' } } };
      }
      if (r.status === 401 && attempt === 0 && (await askKey())) continue;
      let data = null;
      try { data = await r.json(); } catch (e) { data = null; }
      return { status: r.status, ok: r.ok, data };
    }
  }

  const why = (r) => (r.data && ((r.data.error && r.data.error.message) || r.data.message || (typeof r.data.error === 'string' && r.data.error))) || `Parley answered ${r.status}`;

  function status(message, tone) {
    const s = $('#status');
    s.textContent = message;
    s.className = `status ${tone || ''}`;
  }

  // ---- the editor --------------------------------------------------------------------
  const editor = window.StudioEditor.create($('#editor'), {
    async problems(text) {
      if (!state.path) return [];
      const path = state.path;
      const seq = ++state.checks;
      const r = await api('POST', 'check', { path, text });
      if (path !== state.path || seq !== state.checks) return null;
      if (!r.ok) {
        status(`Could not check this file: ${why(r)}`, 'bad');
        return [];
      }
      state.problems = r.data.problems || [];
      showCount();
      // A flow with errors cannot be drawn: its last drawing stays, said to be older.
      const errors = state.problems.some((p) => p.severity !== 'warning');
      state.stale = !r.data.graph && errors && Boolean(state.graph);
      if (r.data.graph || !errors) state.graph = r.data.graph || null;
      redraw();
      return state.problems.concat(failureProblems());
    },
    async complete(text, line, column) {
      if (!state.path) return null;
      const r = await api('POST', 'complete', { path: state.path, text, line, column });
      return r.ok ? r.data : null;
    },
    async hover(text, line, column) {
      if (!state.path) return null;
      const r = await api('POST', 'hover', { path: state.path, text, line, column });
      return r.ok && r.data ? r.data.text : null;
    },
    cursor: (line) => follow(line),
    changed() {
      state.dirty = editor.text() !== state.saved;
      $('#file-name').classList.toggle('dirty', state.dirty);
    },
  });

  function showCount() {
    const n = state.problems.filter((p) => p.severity !== 'warning').length;
    const w = state.problems.length - n;
    const c = $('#problems-count');
    c.textContent = n ? `${n} problem${n > 1 ? 's' : ''}` : (w ? `${w} warning${w > 1 ? 's' : ''}` : 'no problems');
    c.className = `count ${n ? 'bad' : 'good'}`;
  }

  // The tests that failed in the open file, as problems at their lines.
  function failureProblems() {
    return state.failures.filter((t) => t.file === state.path && t.failure && t.failure.line).map((t) => ({
      line: t.failure.line, column: t.failure.column || 1,
      end_line: t.failure.line, end_column: (t.failure.column || 1) + 1,
      severity: 'error', message: `Test “${t.name}” failed: ${t.failure.message}`, hint: null, fixes: [],
    }));
  }

  // ---- the drawing -------------------------------------------------------------------
  function redraw() {
    const box = $('#graph');
    $('#graph-note').hidden = !(state.stale && state.graph);
    if (!state.graph) {
      state.drawing = null;
      box.replaceChildren(make('p', 'muted', state.path ? 'This file is not a flow (or has errors that keep it from being drawn).' : 'Open a flow to see it drawn.'));
      return;
    }
    state.drawing = window.StudioGraph.draw(box, state.graph, {
      numbers: state.numbers,
      pick: (node) => editor.goto(node.line, node.column),
    });
    if (state.trace && state.trace.flow === state.graph.flow) state.drawing.trace(state.trace.steps);
    const at = nodeAt(editor.line());
    if (at) state.drawing.current(at.id);
  }

  // The innermost step whose lines hold `line`.
  function nodeAt(line) {
    if (!state.graph) return null;
    let best = null;
    for (const n of state.graph.nodes) {
      // On a tie the step wins over the place outside the flow it names (drawn after it).
      if (n.line <= line && line <= (n.end_line || n.line) && (!best || n.line > best.line)) best = n;
    }
    return best;
  }

  function follow(line) {
    if (!state.drawing) return;
    const n = nodeAt(line);
    state.drawing.current(n ? n.id : null);
  }

  // ---- files -------------------------------------------------------------------------
  async function loadFiles() {
    const r = await api('GET', 'files');
    const nav = $('#files');
    if (!r.ok) {
      nav.replaceChildren(make('p', 'muted', `Could not list the files: ${why(r)}`));
      return;
    }
    state.files = r.data.files || [];
    nav.replaceChildren();
    for (const [kind, title] of KINDS) {
      const files = state.files.filter((f) => f.kind === kind);
      if (!files.length) continue;
      nav.appendChild(make('h2', '', title));
      for (const f of files) {
        const b = make('button', '', f.path.split('/').pop());
        b.type = 'button';
        b.title = f.path;
        b.dataset.path = f.path;
        b.addEventListener('click', () => openFile(f.path));
        nav.appendChild(b);
      }
    }
  }

  async function openFile(path) {
    if (state.dirty && !window.confirm('Your changes to this file are not saved. Open another file and lose them?')) return;
    const r = await api('GET', `file?path=${encodeURIComponent(path)}`);
    if (!r.ok) {
      status(`Could not open ${path}: ${why(r)}`, 'bad');
      return;
    }
    state.path = path;
    state.version = r.data.version;
    state.saved = r.data.text;
    state.dirty = false;
    state.graph = null;
    state.stale = false;
    state.problems = [];
    // The last run's failures stay: they show in a test file opened from their link.
    state.transcript = [];
    state.trace = null;
    state.numbers = null;
    $('#file-name').textContent = path;
    $('#file-name').classList.remove('dirty');
    for (const b of document.querySelectorAll('#files button')) b.classList.toggle('open', b.dataset.path === path);
    history.replaceState(null, '', `#${path}`);
    editor.open(r.data.text, /\.ya?ml$/.test(path));
    redraw();
    renderChat([]);
    loadTryAs();
    status(`Opened ${path}. Problems show up as you type; Save when you are done.`);
    if ($('#insights-on').checked) loadNumbers();
    if (!$('#tab-history').hidden) loadHistory();
  }

  function flowId() {
    const f = state.files.find((x) => x.path === state.path);
    return (f && f.flow) || (state.graph && state.graph.flow) || null;
  }

  // ---- Try it ------------------------------------------------------------------------
  // The trace lines that say which language and experiment arm a message was answered in.
  const CHOICE_LINE = /^(language [a-z]{2,3}(_[A-Z]{2})? |split [^ ]+: arm |flow [^ ]+: (version |the current version))/;

  // The customer's language and forced arms, from the pickers above the chat.
  function tryChoices() {
    const lang = $('#try-language');
    const arms = {};
    for (const sel of document.querySelectorAll('#try-as select[data-experiment]')) {
      if (sel.value) arms[sel.dataset.experiment] = sel.value;
    }
    return { language: (lang && lang.value) || null, arms };
  }

  // Pickers for what the tried flows offer (`offer` of a try's answer), keeping the picks
  // that still exist.
  let offered = '';
  function renderTryAs(offer) {
    const box = $('#try-as');
    // The same offer: the pickers stay as they are (a pick being made is not lost).
    const key = JSON.stringify(offer || null);
    if (key === offered) return;
    offered = key;
    const was = tryChoices();
    box.replaceChildren();
    const languages = (offer && offer.languages) || [];
    const experiments = (offer && offer.experiments) || [];
    box.hidden = !languages.length && !experiments.length;
    const picker = (label, options, value, attrs) => {
      const l = make('label', '', label + ' ');
      const sel = make('select');
      Object.assign(sel, attrs);
      for (const [v, text] of options) {
        const o = make('option', '', text);
        o.value = v;
        sel.appendChild(o);
      }
      sel.value = options.some(([v]) => v === value) ? value : '';
      l.appendChild(sel);
      box.appendChild(l);
      return sel;
    };
    if (languages.length) {
      picker('Language', [['', "none (the flow's base)"]].concat(languages.map((x) => [x.code, `${x.name} (${x.code})`])),
        was.language || '', { id: 'try-language' });
    }
    for (const e of experiments) {
      const sel = picker(e.experiment, [['', 'drawn']].concat(e.arms.map((a) => [a.name, a.weight !== undefined ? `${a.name} (weight ${a.weight})` : a.name])),
        was.arms[e.experiment] || '', {});
      sel.dataset.experiment = e.experiment;
    }
  }

  // What the tried text offers to choose, asked without running anything.
  async function loadTryAs() {
    if (!state.path) return;
    const r = await api('POST', 'try', { path: state.path, text: editor.text(), messages: [] });
    if (r.ok) renderTryAs(r.data.offer);
  }

  function renderChat(turns, note) {
    const chat = $('#try-chat');
    chat.replaceChildren();
    if (!turns.length && !note) chat.appendChild(make('p', 'muted', 'Chat with what you wrote — nothing needs saving, and no real customer sees it.'));
    turns.forEach((turn) => {
      chat.appendChild(make('div', 'msg customer', turn.customer));
      if (!(turn.replies || []).length) chat.appendChild(make('div', 'msg note', 'No answer from the bot.'));
      for (const reply of turn.replies || []) {
        const m = make('div', 'msg bot');
        if (reply.kind && reply.kind !== 'text') m.appendChild(make('div', 'kind', reply.kind));
        // The buttons are drawn as buttons, not repeated in the text.
        let words = reply.text || '';
        const listed = reply.buttons && ` [${reply.buttons.join(' | ')}]`;
        if (listed && words.endsWith(listed)) words = words.slice(0, -listed.length);
        m.appendChild(document.createTextNode(words));
        if (reply.buttons && reply.buttons.length) {
          const row = make('div', 'choices');
          for (const label of reply.buttons) {
            const b = make('button', 'reply-button', label);
            b.type = 'button';
            b.addEventListener('click', () => say(label));
            row.appendChild(b);
          }
          m.appendChild(row);
        }
        chat.appendChild(m);
      }
      const chosen = (turn.decisions || []).filter((d) => CHOICE_LINE.test(d));
      if (chosen.length) chat.appendChild(make('div', 'msg chosen', chosen.join('\n')));
    });
    if (note) chat.appendChild(make('div', 'msg note', note));
    chat.scrollTop = chat.scrollHeight;
  }

  async function say(text) {
    if (!state.path || !text.trim()) return;
    const messages = state.transcript.concat([text]);
    $('#try-send').disabled = true;
    const r = await api('POST', 'try', Object.assign({ path: state.path, text: editor.text(), messages }, tryChoices()));
    $('#try-send').disabled = false;
    if (!r.ok) {
      const problems = (r.data && r.data.problems) || [];
      const first = problems[0];
      const detail = first ? `\n${first.path ? `${first.path} ` : ''}line ${first.line}: ${first.message}` : '';
      renderChat(state.lastTurns || [], `Could not try it: ${why(r)}${detail}`);
      return;
    }
    state.transcript = messages;
    renderTryAs(r.data.offer);
    const turns = r.data.turns || [];
    state.lastTurns = turns;
    const last = turns[turns.length - 1];
    state.trace = last ? last.trace : null;
    renderChat(turns);
    if (state.drawing) state.drawing.trace(state.trace && state.graph && state.trace.flow === state.graph.flow ? state.trace.steps : []);
  }

  $('#try-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = $('#try-text').value;
    $('#try-text').value = '';
    say(text);
  });
  $('#try-reset').addEventListener('click', () => {
    state.transcript = [];
    state.lastTurns = [];
    state.trace = null;
    if (state.drawing) state.drawing.trace([]);
    renderChat([]);
    loadTryAs();
  });
  // Another pick is another customer: the conversation starts again.
  $('#try-as').addEventListener('change', () => $('#try-reset').click());

  // ---- tests -------------------------------------------------------------------------
  async function runTests() {
    if (!state.path) return;
    showTab('tests');
    const box = $('#tab-tests');
    box.replaceChildren(make('p', 'muted', 'Running the tests…'));
    const r = await api('POST', 'tests', { path: state.path, text: editor.text() });
    if (!r.ok) {
      box.replaceChildren(make('p', 'result failed', `Could not run the tests: ${why(r)}`));
      return;
    }
    const tests = r.data.tests || [];
    state.failures = tests.filter((t) => !t.passed);
    const passed = tests.length - state.failures.length;
    box.replaceChildren(make('p', 'summary', tests.length
      ? `${passed} passed, ${state.failures.length} failed`
      : 'No test exercises this flow yet (tests live in flows/tests/).'));
    for (const t of tests) {
      const row = make('div', `result ${t.passed ? 'passed' : 'failed'}`);
      row.appendChild(make('span', 'verdict', t.passed ? 'passed' : 'failed'));
      row.appendChild(document.createTextNode(`${t.name} `));
      if (t.failure) {
        const where = make('span', 'where', `${t.file}${t.failure.line ? ` line ${t.failure.line}` : ''}`);
        where.addEventListener('click', async () => {
          if (t.file !== state.path) await openFile(t.file);
          if (t.file === state.path && t.failure.line) editor.goto(t.failure.line, t.failure.column);
        });
        row.appendChild(where);
        row.appendChild(make('div', 'why', t.failure.message));
      }
      box.appendChild(row);
    }
    editor.relint();
  }
  $('#run-tests').addEventListener('click', runTests);

  // ---- numbers (insights) ------------------------------------------------------------
  function period() {
    const day = (d) => d.toISOString().slice(0, 10);
    const choice = $('#insights-period').value;
    if (choice === 'custom') return { from: $('#insights-from').value, to: $('#insights-to').value };
    const to = new Date();
    const from = new Date(to.getTime() - (Number(choice) - 1) * 86400000);
    return { from: day(from), to: day(to) };
  }

  async function loadNumbers() {
    const flow = flowId();
    if (!$('#insights-on').checked || !flow) {
      state.numbers = null;
      redraw();
      return;
    }
    const { from, to } = period();
    const query = [from && `from=${from}`, to && `to=${to}`].filter(Boolean).join('&');
    const r = await api('GET', `insights/${encodeURIComponent(flow)}${query ? `?${query}` : ''}`);
    if (!r.ok) {
      status(`Could not read the numbers: ${why(r)}`, 'bad');
      return;
    }
    state.numbers = r.data.steps || {};
    redraw();
    status(`Numbers of the saved version of ${flow}, ${from || 'the start'} to ${to || 'today'}: customers who reached each step, answered it, or left there.`);
  }
  $('#insights-on').addEventListener('change', loadNumbers);
  $('#insights-period').addEventListener('change', () => {
    $('#insights-range').hidden = $('#insights-period').value !== 'custom';
    loadNumbers();
  });
  $('#insights-from').addEventListener('change', loadNumbers);
  $('#insights-to').addEventListener('change', loadNumbers);

  // ---- save, conflicts, history ------------------------------------------------------
  function afterSave(data, text, what) {
    state.version = data.version;
    state.saved = text;
    state.dirty = editor.text() !== state.saved;
    $('#file-name').classList.toggle('dirty', state.dirty);
    const problems = data.problems || [];
    if (data.loaded) {
      status(`${what} and loaded: Parley uses this version for new conversations now (conversations in progress finish on the one they started with).`, 'ok');
    } else {
      const errors = problems.filter((p) => p.severity !== 'warning');
      const n = errors.length || problems.length;
      const list = (errors.length ? errors : problems).slice(0, 3).map((p) => `\n• ${p.path ? `${p.path} ` : ''}line ${p.line}: ${p.message}`).join('');
      status(`${what} but NOT loaded: ${n} problem${n === 1 ? '' : 's'} — Parley keeps using the previous version until they are fixed.${list}`, 'warn');
    }
    if (!$('#tab-history').hidden) loadHistory();
  }

  async function save() {
    if (!state.path) return;
    const text = editor.text();
    $('#save').disabled = true;
    const r = await api('POST', 'save', { path: state.path, text, base_version: state.version });
    $('#save').disabled = false;
    if (r.status === 409 && r.data && r.data.theirs) return conflict(r.data);
    if (!r.ok) return status(`Not saved: ${why(r)}`, 'bad');
    afterSave(r.data, text, 'Saved');
  }
  $('#save').addEventListener('click', save);
  document.addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === 's') {
      ev.preventDefault();
      save();
    }
  });

  // Both versions side by side, the lines only one of them has marked.
  function conflict(data) {
    const theirs = data.theirs.text || '';
    const yours = (data.yours && data.yours.text) || editor.text();
    const fill = (pre, text, other) => {
      const others = new Set(other.split('\n'));
      pre.replaceChildren();
      for (const line of text.split('\n')) {
        const span = make('span', others.has(line) ? '' : 'changed', `${line}\n`);
        pre.appendChild(span);
      }
    };
    fill($('#theirs'), theirs, yours);
    fill($('#yours'), yours, theirs);
    const dialog = $('#conflict');
    dialog.dataset.version = data.theirs.version;
    dialog.dataset.text = theirs;
    status('Not saved: someone else saved this file after you opened it. Compare the two versions.', 'bad');
    dialog.showModal();
  }
  $('#take-theirs').addEventListener('click', () => {
    const dialog = $('#conflict');
    state.version = dialog.dataset.version;
    state.saved = dialog.dataset.text;
    editor.replace(state.saved);
    state.dirty = false;
    $('#file-name').classList.remove('dirty');
    dialog.close();
    status('You now have their version. Your changes are gone from the file but Ctrl+Z brings them back.', 'ok');
  });
  $('#keep-mine').addEventListener('click', () => {
    const dialog = $('#conflict');
    // The author has seen their version: the next save replaces it, knowingly.
    state.version = dialog.dataset.version;
    dialog.close();
    status('You kept your text. Saving now replaces their version with yours.', 'warn');
  });

  function diffBlock(diff) {
    const pre = make('pre', 'diff');
    for (const line of (diff || '').split('\n')) {
      const cls = line.startsWith('+') && !line.startsWith('+++') ? 'add' : (line.startsWith('-') && !line.startsWith('---') ? 'del' : '');
      pre.appendChild(make('span', cls, `${line}\n`));
    }
    return pre;
  }

  async function loadHistory() {
    const box = $('#tab-history');
    if (!state.path) return;
    const path = state.path;
    const r = await api('GET', `history?path=${encodeURIComponent(path)}`);
    if (path !== state.path) return;
    if (!r.ok) {
      box.replaceChildren(make('p', 'muted', `Could not read the history: ${why(r)}`));
      return;
    }
    const saves = r.data.saves || [];
    box.replaceChildren(make('p', 'muted', saves.length
      ? 'Every save of this file, newest first. Restore saves that version again (your current text stays in the undo history).'
      : 'This file has not been saved from the studio yet.'));
    saves.forEach((s, k) => {
      const row = make('div', 'save');
      row.dataset.id = s.id;
      row.appendChild(make('span', 'who', s.who));
      row.appendChild(document.createTextNode(` saved ${new Date(s.at).toLocaleString()}${k === 0 ? ' (latest)' : ''}`));
      const restore = make('button', 'restore', 'Restore');
      restore.type = 'button';
      restore.title = 'save this version again';
      restore.addEventListener('click', () => restoreSave(s));
      row.appendChild(restore);
      const details = make('details');
      details.appendChild(make('summary', '', 'What changed'));
      details.appendChild(diffBlock(s.diff));
      row.appendChild(details);
      box.appendChild(row);
    });
  }

  async function restoreSave(save) {
    const r = await api('POST', 'restore', { path: state.path, id: save.id, base_version: state.version });
    if (r.status === 409 && r.data && r.data.theirs) return conflict(r.data);
    if (!r.ok) return status(`Not restored: ${why(r)}`, 'bad');
    const file = await api('GET', `file?path=${encodeURIComponent(state.path)}`);
    if (!file.ok) return status(`Restored, but could not read it back: ${why(file)}`, 'warn');
    editor.replace(file.data.text);
    afterSave({ ...r.data, version: file.data.version }, file.data.text, `Restored the version of ${new Date(save.at).toLocaleString()}: saved`);
  }
  $('#show-history').addEventListener('click', () => showTab('history'));

  // ---- tabs and start ----------------------------------------------------------------
  function showTab(name) {
    for (const b of document.querySelectorAll('.tabs button')) b.classList.toggle('active', b.dataset.tab === name);
    for (const t of ['try', 'tests', 'history']) $(`#tab-${t}`).hidden = t !== name;
    if (name === 'history') loadHistory();
  }
  for (const b of document.querySelectorAll('.tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));
  window.addEventListener('beforeunload', (ev) => {
    if (state.dirty) ev.preventDefault();
  });

  loadFiles().then(() => {
    const wanted = decodeURIComponent(location.hash.slice(1));
    if (wanted && state.files.some((f) => f.path === wanted)) openFile(wanted);
  });
})();
