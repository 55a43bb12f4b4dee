// The Insights page's scores section (issue 59): loaded after the page's script, it
// registers a loader the page calls with the period on every load. Per flow and agent
// step, the mean score a judge model gave the conversations scored in the period, each
// criterion's pass rate, and the worst conversations with the judge's reasons. The
// transcripts are what the judge read: masked when the step's guardrails say so.
'use strict';

sections.push(async (periodQuery) => {
  const box = document.querySelector('#scores');
  const report = await getJson('/sandbox/api/insights/scores?' + periodQuery);
  box.replaceChildren();
  if (!report.flows.length) {
    box.append(el('div', { class: 'empty' }, 'No agent conversation was scored in this period (an agent step scores a share of its conversations with `score:`).'));
    return;
  }
  const score = (s) => (s === null || s === undefined) ? '–' : (Math.round(s * 100) / 100).toFixed(2);
  for (const f of report.flows) {
    const bars = f.criteria.map((c) => el('tr', { class: 'criterion' },
      el('td', { class: 'text', title: c.criterion }, c.criterion),
      el('td', {}, el('div', { style: 'background:#e5e7eb;width:10em;height:.8em;border-radius:3px' },
        el('div', { style: 'background:#16a34a;height:100%;border-radius:3px;width:' + Math.round(c.pass_rate * 100) + '%' }))),
      el('td', { class: 'rate' }, pct(c.passed, c.judged))));
    const worst = f.worst.map((w) => el('details', { class: 'worst' },
      el('summary', {}, 'Score ' + score(w.score) + ' · conversation ' + w.conversation_id + ' · ' + w.outcome),
      el('ul', { class: 'verdicts' }, ...w.verdicts.map((v) => el('li', {}, (v.pass ? '✓ ' : '✗ ') + v.criterion + ': ' + v.reason))),
      el('div', { class: 'transcript' }, ...w.transcript.map((l) => el('p', { class: l.from }, el('b', {}, l.from + ': '), l.text)))));
    const skipped = Object.entries(f.not_scored).map(([k, n]) => n + ' ' + k).join(', ');
    box.append(el('div', { class: 'experiment score-card', 'data-flow': f.flow, 'data-step': f.step },
      el('h3', {}, f.flow + ' / ' + f.step,
        el('small', {}, ' mean score ', el('b', { class: 'mean' }, score(f.mean_score)), ' of ' + f.scored + (f.scored === 1 ? ' conversation' : ' conversations') + ' · judge cost $' + f.judge_cost.toFixed(4) + (skipped ? ' · not scored: ' + skipped : ''))),
      el('table', {}, el('tbody', {}, ...bars)),
      ...(worst.length ? [el('h4', {}, 'Worst conversations (masked as the step\'s guardrails say)'), ...worst] : [])));
  }
});
