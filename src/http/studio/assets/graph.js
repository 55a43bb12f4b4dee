// The studio's drawing of a flow (`window.StudioGraph`): the GRAPH that /studio/api/check
// answers, laid out in layers in one pass (a 200-step flow draws in a few milliseconds)
// and drawn as SVG. Steps are boxes, edges are labelled arrows, triggers are the blue
// pills on top; never-reached steps are dashed, steps that may send free-form text after
// the 24-hour window are orange. No library: the layout is the program's own order.
(() => {
  const NS = 'http://www.w3.org/2000/svg';
  // Places outside the flow a step leads to (another flow, a person, the template sent
  // once the window has closed): drawn apart, not as steps.
  const OUTSIDE = new Set(['flow', 'person', 'template']);
  const W = 160, H = 40, NUM_H = 14, GAP_X = 20, GAP_Y = 34, PAD = 14, ENTRY_H = 22;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function text(parent, x, y, content, cls, max) {
    const t = el('text', { x, y, class: cls || '' }, parent);
    const s = String(content);
    t.textContent = max && s.length > max ? s.slice(0, max - 1) + '…' : s;
    return t;
  }

  // Layers: an edge to a later step goes down a layer; a step nothing earlier leads to
  // sits under the one before it, so the drawing keeps the file's order.
  function layout(graph) {
    const index = new Map(graph.nodes.map((n, i) => [n.id, i]));
    const rank = new Array(graph.nodes.length).fill(-1);
    const into = graph.nodes.map(() => []);
    for (const e of graph.edges) {
      const a = index.get(e.from), b = index.get(e.to);
      if (a !== undefined && b !== undefined && b > a) into[b].push(a);
    }
    for (let i = 0; i < rank.length; i++) {
      let r = into[i].length ? 0 : (i > 0 ? rank[i - 1] + 1 : 0);
      for (const a of into[i]) r = Math.max(r, rank[a] + 1);
      rank[i] = r;
    }
    const layers = [];
    rank.forEach((r, i) => (layers[r] = layers[r] || []).push(i));
    const x = new Array(rank.length).fill(0);
    let widest = 1;
    for (const layer of layers) {
      if (!layer) continue;
      // Under the steps that lead to them (their mean position), in the file's order.
      const wish = (i) => (into[i].length ? into[i].reduce((s, a) => s + x[a], 0) / into[i].length : 0);
      layer.sort((a, b) => wish(a) - wish(b) || a - b);
      layer.forEach((i, k) => { x[i] = k - (layer.length - 1) / 2; });
      widest = Math.max(widest, layer.length);
    }
    return { index, rank, x, widest, layers: layers.length };
  }

  function fmtNumbers(n) {
    if (!n) return 'no visits';
    const parts = [`${n.entered} in`];
    if (n.answered) parts.push(`${n.answered} answered`);
    if (n.dropped) parts.push(`${n.dropped} left`);
    if (n.cost && Number(n.cost) > 0) parts.push(`cost ${n.cost}`);
    return parts.join(' · ');
  }

  /// Draws `graph` into `box` (replacing what was there). `opts.numbers`: the insights per
  /// node id, drawn in each box; `opts.pick(node)`: a box was clicked.
  function draw(box, graph, opts) {
    const numbers = opts && opts.numbers;
    const h = H + (numbers ? NUM_H : 0);
    const { index, rank, x, widest, layers } = layout(graph);
    const entries = graph.entries || [];
    const top = PAD + (entries.length ? ENTRY_H + GAP_Y : 0);
    // Room on the right for the arrows back to an earlier step, when there are any.
    const backRoom = graph.edges.some((e) => {
      const a = index.get(e.from), b = index.get(e.to);
      return a !== undefined && b !== undefined && rank[b] <= rank[a];
    }) ? 60 : 8;
    const width = Math.max(widest * (W + GAP_X), Math.min(entries.length, 6) * 130) + 2 * PAD + backRoom;
    const height = top + layers * (h + GAP_Y) + PAD;
    const centre = PAD + (width - 2 * PAD - backRoom) / 2;
    const pos = graph.nodes.map((_, i) => ({
      x: centre + x[i] * (W + GAP_X) - W / 2,
      y: top + rank[i] * (h + GAP_Y),
    }));
    const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `drawing of flow ${graph.flow}` });
    el('defs', {}, svg).innerHTML =
      '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#90a4ae"/></marker>' +
      '<marker id="arrow-blue" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#1565c0"/></marker>';
    const edgeLayer = el('g', {}, svg);
    const nodeLayer = el('g', {}, svg);
    const edges = [];
    const seen = new Map();
    for (const e of graph.edges) {
      const a = index.get(e.from), b = index.get(e.to);
      if (a === undefined || b === undefined) continue;
      const pair = `${a}>${b}`;
      const nth = seen.get(pair) || 0;
      seen.set(pair, nth + 1);
      const g = el('g', { class: `edge ${e.kind}` }, edgeLayer);
      const p = pos[a], q = pos[b];
      let d, lx, ly;
      if (rank[b] > rank[a]) {
        const sx = p.x + W / 2, sy = p.y + h, tx = q.x + W / 2, ty = q.y;
        const bend = (ty - sy) / 2;
        d = `M${sx},${sy} C${sx},${sy + bend} ${tx},${ty - bend} ${tx},${ty}`;
        // Nearer the step it leads to (70% along), so the labels of a fan-out spread apart.
        lx = 0.216 * sx + 0.784 * tx + 4; ly = sy + 0.66 * (ty - sy) + 3 + nth * 11;
      } else {
        // Back to an earlier step (or a loop): around the right-hand side.
        const sx = p.x + W, sy = p.y + h / 2, tx = q.x + W, ty = q.y + h / 2;
        const out = 28 + 10 * nth + Math.abs(rank[a] - rank[b]) * 4;
        d = `M${sx},${sy} C${sx + out},${sy} ${tx + out},${ty} ${tx},${ty}`;
        lx = Math.max(sx, tx) + out * 0.75 - 8; ly = (sy + ty) / 2 + 3;
      }
      el('path', { d, 'marker-end': 'url(#arrow)' }, g);
      if (e.label && e.label !== 'next') {
        text(g, lx, ly, e.label, 'bg', 22);
        text(g, lx, ly, e.label, '', 22);
      }
      el('title', {}, g).textContent = `${e.label || e.kind}: ${e.from} → ${e.to}`;
      edges.push({ from: e.from, to: e.to, g });
    }
    entries.forEach((entry, k) => {
      const b = index.get(entry.to);
      const ex = PAD + k * ((width - 2 * PAD - backRoom) / Math.max(entries.length, 1)) + 2;
      const ew = Math.min(124, (width - 2 * PAD - backRoom) / Math.max(entries.length, 1) - 6);
      const g = el('g', { class: 'entry' }, nodeLayer);
      el('rect', { x: ex, y: PAD, width: ew, height: ENTRY_H }, g);
      text(g, ex + 8, PAD + 15, entry.label, '', Math.floor(ew / 6.3));
      el('title', {}, g).textContent = `starts with ${entry.label}`;
      if (b !== undefined) {
        const sx = ex + ew / 2, sy = PAD + ENTRY_H, tx = pos[b].x + W / 2, ty = pos[b].y;
        el('path', { d: `M${sx},${sy} C${sx},${sy + 20} ${tx},${ty - 20} ${tx},${ty}`, 'marker-end': 'url(#arrow-blue)' }, g);
      }
    });
    const nodes = new Map();
    graph.nodes.forEach((n, i) => {
      const cls = ['node', n.kind];
      if (OUTSIDE.has(n.kind)) cls.push('outside');
      if (n.unreachable) cls.push('unreachable');
      if (n.free_form_after_window) cls.push('late');
      const g = el('g', { class: cls.join(' '), transform: `translate(${pos[i].x},${pos[i].y})`, 'data-id': n.id, tabindex: 0 }, nodeLayer);
      el('rect', { width: W, height: h }, g);
      const named = !n.id.startsWith('#') && !OUTSIDE.has(n.kind);
      text(g, 8, 13, n.kind.replace('_', ' ') + (named ? ` · ${n.id}` : ''), 'kind', 30);
      // The label starts with the kind, already written above it.
      const words = n.label.startsWith(`${n.kind}: `) ? n.label.slice(n.kind.length + 2) : (n.label === n.kind ? '' : n.label);
      text(g, 8, 30, words, 'label', 25);
      if (numbers) text(g, 8, 44, fmtNumbers(numbers[n.id]), 'numbers', 30);
      const notes = [n.label, `line ${n.line}`];
      if (n.unreachable) notes.push('never reached: nothing leads here');
      if (n.free_form_after_window) notes.push('may send free-form text after the 24-hour window has closed');
      el('title', {}, g).textContent = notes.join('\n');
      const pick = () => opts && opts.pick && opts.pick(n);
      g.addEventListener('click', pick);
      g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') pick(); });
      nodes.set(n.id, g);
    });
    box.replaceChildren(svg);
    // A wide flow is drawn smaller to fit the pane, down to 70%; wider still, it scrolls.
    const fit = Math.min(1, Math.max(0.7, (box.clientWidth - 10) / width));
    svg.setAttribute('width', Math.round(width * fit));
    svg.setAttribute('height', Math.round(height * fit));

    let current = null;
    return {
      /// Marks the steps of the last message's trace (and the edges between them).
      trace(steps) {
        for (const g of nodes.values()) g.classList.remove('traced');
        for (const e of edges) e.g.classList.remove('traced');
        const ran = new Set(steps || []);
        for (const id of ran) nodes.get(id)?.classList.add('traced');
        for (let i = 1; i < (steps || []).length; i++) {
          for (const e of edges) if (e.from === steps[i - 1] && e.to === steps[i]) e.g.classList.add('traced');
        }
      },
      /// Marks the step the cursor is in (none: `null`), scrolled into view.
      current(id) {
        if (current) current.classList.remove('current');
        current = id === null ? null : nodes.get(id) || null;
        if (current) {
          current.classList.add('current');
          // Into the drawing's view, scrolling only the drawing (never the page).
          const r = current.getBoundingClientRect(), b = box.getBoundingClientRect();
          if (r.top < b.top) box.scrollTop -= b.top - r.top + 8;
          else if (r.bottom > b.bottom) box.scrollTop += r.bottom - b.bottom + 8;
          if (r.left < b.left) box.scrollLeft -= b.left - r.left + 8;
          else if (r.right > b.right) box.scrollLeft += r.right - b.right + 8;
        }
      },
    };
  }

  window.StudioGraph = { draw };
})();
