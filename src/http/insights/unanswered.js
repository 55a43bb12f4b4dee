// The Insights page's unanswered section (issue 59): loaded after the page's script, it
// registers a loader the page calls with the period on every load. Per flow, the questions
// no passage of an agent's knowledge matched well enough, the most asked first: what to
// add to the knowledge files next.
'use strict';

sections.push(async (periodQuery) => {
  const box = document.querySelector('#unanswered');
  const report = await getJson('/sandbox/api/insights/unanswered?' + periodQuery);
  box.replaceChildren();
  if (!report.flows.length) {
    box.append(el('div', { class: 'empty' }, 'No unanswered questions in this period: every question found a passage in the knowledge files.'));
    return;
  }
  const day = (t) => t.slice(0, 16).replace('T', ' ');
  for (const f of report.flows) {
    const total = f.questions.reduce((n, q) => n + q.count, 0);
    const rows = f.questions.map((q) => el('tr', { class: 'question' },
      el('td', { class: 'text', title: q.question }, q.question),
      el('td', { class: 'count' }, q.count),
      el('td', {}, q.step),
      el('td', {}, day(q.last_seen))));
    box.append(el('div', { class: 'experiment unanswered-flow', 'data-flow': f.flow },
      el('h3', {}, f.flow, el('small', {}, total + (total === 1 ? ' asking' : ' askings') + ' of ' + f.questions.length + (f.questions.length === 1 ? ' question' : ' questions'))),
      el('table', {},
        el('thead', {}, el('tr', {}, el('th', {}, 'Question'), el('th', {}, 'Asked'), el('th', {}, 'Step'), el('th', {}, 'Last asked (UTC)'))),
        el('tbody', {}, ...rows))));
  }
});
