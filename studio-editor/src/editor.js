// The studio page's editor: CodeMirror 6 with YAML highlighting, problems shown as lint
// diagnostics (with their quick fixes), completion and hover, all answered by the page's
// callbacks (which ask Parley). Bundled by build.sh into src/http/studio/assets/editor.js
// as `window.StudioEditor`; the page (studio.js) never touches CodeMirror directly.
import { basicSetup } from 'codemirror';
import { EditorView, hoverTooltip, keymap } from '@codemirror/view';
import { EditorState, Compartment, StateEffect } from '@codemirror/state';
import { indentWithTab } from '@codemirror/commands';
import { indentUnit } from '@codemirror/language';
import { yaml } from '@codemirror/lang-yaml';
import { linter, lintGutter } from '@codemirror/lint';
import { autocompletion } from '@codemirror/autocomplete';

// Parley counts columns in characters (1-based); CodeMirror counts UTF-16 units from 0.
function offset(doc, line, column) {
  if (line < 1) return 0;
  if (line > doc.lines) return doc.length;
  const l = doc.line(line);
  let pos = l.from;
  let chars = 1;
  for (const ch of l.text) {
    if (chars >= column) break;
    pos += ch.length;
    chars += 1;
  }
  return Math.min(pos, l.to);
}

function lineColumn(doc, pos) {
  const l = doc.lineAt(pos);
  return { line: l.number, column: [...l.text.slice(0, pos - l.from)].length + 1 };
}

const KINDS = {
  key: 'property', step: 'keyword', flow: 'class', step_id: 'variable',
  template: 'text', language: 'enum', variable: 'variable', filter: 'function',
};

// A hover's or a completion's markdown: ``` blocks, paragraphs, `code` and **bold**;
// everything else as text (never as HTML).
function inline(p, text) {
  for (const part of text.split(/(`[^`]+`|\*\*[^*]+\*\*)/)) {
    if (part.startsWith('`') && part.endsWith('`') && part.length > 1) {
      const c = document.createElement('code');
      c.textContent = part.slice(1, -1);
      p.appendChild(c);
    } else if (part.startsWith('**') && part.endsWith('**') && part.length > 3) {
      const b = document.createElement('strong');
      inline(b, part.slice(2, -2));
      p.appendChild(b);
    } else if (part) {
      p.appendChild(document.createTextNode(part));
    }
  }
}

function markdown(text) {
  const box = document.createElement('div');
  box.className = 'studio-hover';
  text.split(/```[\w-]*\n([\s\S]*?)```/).forEach((chunk, i) => {
    if (i % 2) {
      const pre = document.createElement('pre');
      pre.textContent = chunk.replace(/\n$/, '');
      box.appendChild(pre);
      return;
    }
    for (const para of chunk.split(/\n{2,}/)) {
      if (!para.trim()) continue;
      const p = document.createElement('p');
      inline(p, para.trim());
      box.appendChild(p);
    }
  });
  return box;
}

/// Makes an editor in `parent`. `hooks`:
/// - problems(text) → Promise<[{line, column, end_line, end_column, severity, message,
///   hint, fixes: [{title, line, column, end_line, end_column, replacement}]}]>
/// - complete(text, line, column, explicit) → Promise<{items, from} | null>
/// - hover(text, line, column) → Promise<string | null> (markdown)
/// - cursor(line), changed(): the cursor moved, the text changed.
function create(parent, hooks) {
  const language = new Compartment();
  // Asks the linter to run again though the text did not change (the tests ran).
  const refresh = StateEffect.define();

  const lint = linter(async (view) => {
    const doc = view.state.doc;
    let problems;
    try {
      problems = await hooks.problems(doc.toString());
    } catch (e) {
      return [];
    }
    if (!problems) return [];
    return problems.map((p) => {
      const from = offset(doc, p.line, p.column);
      let to = offset(doc, p.end_line || p.line, p.end_column || p.column);
      if (to <= from) to = Math.min(doc.lineAt(from).to, from + 1);
      return {
        from, to,
        severity: p.severity === 'warning' ? 'warning' : 'error',
        message: p.hint ? `${p.message}\n${p.hint}` : p.message,
        source: p.source || undefined,
        actions: (p.fixes || []).map((f) => ({
          name: f.title,
          apply(v) {
            const d = v.state.doc;
            v.dispatch({
              changes: {
                from: offset(d, f.line, f.column),
                to: offset(d, f.end_line, f.end_column),
                insert: f.replacement,
              },
            });
          },
        })),
      };
    });
  }, {
    delay: 300,
    needsRefresh: (u) => u.transactions.some((t) => t.effects.some((e) => e.is(refresh))),
  });

  const complete = autocompletion({
    override: [async (ctx) => {
      const word = ctx.matchBefore(/[\w.$-]*/);
      if (!ctx.explicit && (!word || word.from === word.to)) return null;
      const at = lineColumn(ctx.state.doc, ctx.pos);
      const answer = await hooks.complete(ctx.state.doc.toString(), at.line, at.column, ctx.explicit);
      if (!answer || !answer.items || !answer.items.length || ctx.aborted) return null;
      const from = answer.from ? offset(ctx.state.doc, answer.from.line, answer.from.column) : (word ? word.from : ctx.pos);
      return {
        from,
        options: answer.items.map((i) => ({
          label: i.label,
          type: KINDS[i.kind] || 'text',
          detail: i.detail || undefined,
          info: i.documentation ? () => markdown(i.documentation) : undefined,
          apply: i.insert || i.label,
        })),
      };
    }],
  });

  const hover = hoverTooltip(async (view, pos) => {
    const at = lineColumn(view.state.doc, pos);
    const text = await hooks.hover(view.state.doc.toString(), at.line, at.column);
    if (!text) return null;
    return { pos, above: true, create: () => ({ dom: markdown(text) }) };
  }, { hoverTime: 400 });

  let lastLine = 0;
  const follow = EditorView.updateListener.of((u) => {
    if (u.docChanged && hooks.changed) hooks.changed();
    if (u.selectionSet || u.docChanged) {
      const line = u.state.doc.lineAt(u.state.selection.main.head).number;
      if (line !== lastLine) {
        lastLine = line;
        if (hooks.cursor) hooks.cursor(line);
      }
    }
  });

  const extensions = (isYaml) => [
    basicSetup,
    keymap.of([indentWithTab]),
    indentUnit.of('  '),
    EditorState.tabSize.of(2),
    language.of(isYaml ? yaml() : []),
    lintGutter(),
    lint,
    complete,
    hover,
    follow,
    EditorView.lineWrapping,
  ];

  const view = new EditorView({ parent, state: EditorState.create({ doc: '', extensions: extensions(true) }) });

  return {
    view,
    /// The whole text.
    text: () => view.state.doc.toString(),
    /// Replaces the editor's content with a file's (a fresh undo history); the editor
    /// itself stays.
    open(text, isYaml) {
      lastLine = 0;
      view.setState(EditorState.create({ doc: text, extensions: extensions(isYaml) }));
    },
    /// Replaces the text, keeping the undo history (a restored or reloaded version).
    replace(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    /// Moves the cursor to `line` (1-based), scrolls to it, and focuses the editor.
    goto(line, column) {
      const pos = offset(view.state.doc, line, column || 1);
      view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: 'center' }) });
      view.focus();
    },
    /// The line the cursor is on.
    line: () => view.state.doc.lineAt(view.state.selection.main.head).number,
    /// Asks for the problems again now (e.g. after the tests ran).
    relint: () => view.dispatch({ effects: refresh.of(null) }),
  };
}

window.StudioEditor = { create };
