// Opens Parley's /insights page in Debian's headless Chromium after the test had agent
// conversations scored in the background by a scripted judge, and checks the Agent scores
// section against the API's own answer: the flow and step, the mean score, each
// criterion's pass rate and its bar, the worst conversations with the judge's reasons and
// their masked transcripts; no error in the page's status, no request off Parley. Saves a
// screenshot. Usage:
//   node scores.mjs http://127.0.0.1:PORT /path/to/screenshot.png
import { chromium } from 'playwright-core';

const [base, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.PARLEY_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
});
const expect = (what, got, want) => {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
};
// The page's own rules for a score and a share.
const score = (s) => (s === null || s === undefined) ? '–' : (Math.round(s * 100) / 100).toFixed(2);
const pct = (part, whole) => whole > 0 ? Math.round((part * 1000) / whole) / 10 + '%' : '–';
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15000);
  const errors = [];
  const offsite = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(base)) offsite.push(r.url()); });
  await page.goto(base + '/insights');
  await page.waitForSelector('body[data-loaded="true"]');
  const status = page.locator('#status');
  expect('status class', await status.getAttribute('class'), '');
  if (!(await status.textContent()).startsWith('From ')) throw new Error('status: ' + await status.textContent());

  // The API's answer for the same period, read by the page's own rules.
  const api = await page.evaluate(async () => {
    const r = await fetch('/sandbox/api/insights/scores?' + period());
    return r.json();
  });
  expect('groups', api.flows.map((f) => f.flow + '/' + f.step).join(','), 'support/chat');
  const f = api.flows[0];
  if (!(f.scored >= 2) || !(f.mean_score > 0 && f.mean_score < 1)) throw new Error('scores: ' + JSON.stringify(f));
  const cards = page.locator('#scores .score-card');
  expect('cards', await cards.count(), 1);
  const card = page.locator('#scores .score-card[data-flow="support"][data-step="chat"]');
  expect('title', (await card.locator('h3').textContent()).split(' mean score ')[0], 'support / chat');
  expect('mean', await card.locator('h3 .mean').textContent(), score(f.mean_score));
  const small = await card.locator('h3 small').textContent();
  if (!small.includes(' of ' + f.scored + ' conversations')) throw new Error('scored count: ' + small);
  if (!small.includes('judge cost $' + f.judge_cost.toFixed(4))) throw new Error('judge cost: ' + small);

  // Each criterion: its words, its pass rate, and a bar as long as the rate.
  const rows = card.locator('tr.criterion');
  expect('criteria', await rows.count(), f.criteria.length);
  expect('criteria names', f.criteria.map((c) => c.criterion).join('|'), 'never promises a refund|greets the customer');
  for (const [i, c] of f.criteria.entries()) {
    const row = rows.nth(i);
    expect(c.criterion, await row.locator('td.text').textContent(), c.criterion);
    expect(c.criterion + ' rate', await row.locator('td.rate').textContent(), pct(c.passed, c.judged));
    const width = await row.locator('td').nth(1).locator('div > div').evaluate((e) => parseFloat(e.style.width));
    expect(c.criterion + ' bar', width, Math.round(c.pass_rate * 100));
  }
  if (!(f.criteria[0].pass_rate > 0 && f.criteria[0].pass_rate < 1)) throw new Error('refund criterion: ' + JSON.stringify(f.criteria[0]));
  expect('greeting passes', f.criteria[1].pass_rate, 1);

  // The worst conversations, worst first, each with the judge's reasons and its transcript.
  const worst = card.locator('details.worst');
  expect('worst', await worst.count(), f.worst.length);
  if (!f.worst.length) throw new Error('no worst conversation');
  for (const [i, w] of f.worst.entries()) {
    expect('worst ' + i, await worst.nth(i).locator('summary').textContent(),
      'Score ' + score(w.score) + ' · conversation ' + w.conversation_id + ' · ' + w.outcome);
  }
  const first = f.worst[0];
  expect('the worst score', first.score, Math.min(...f.worst.map((w) => w.score)));
  await worst.nth(0).locator('summary').click();
  const verdicts = await worst.nth(0).locator('.verdicts li').allTextContents();
  expect('verdicts', verdicts.join('\n'), first.verdicts.map((v) => (v.pass ? '✓ ' : '✗ ') + v.criterion + ': ' + v.reason).join('\n'));
  if (!verdicts.includes('✗ never promises a refund: the assistant promised a full refund')) throw new Error('reason: ' + verdicts.join('; '));
  const lines = await worst.nth(0).locator('.transcript p').allTextContents();
  expect('transcript', lines.join('\n'), first.transcript.map((l) => l.from + ': ' + l.text).join('\n'));
  const text = lines.join('\n');
  if (!text.includes('[number]') || text.includes('612345678')) throw new Error('masking: ' + text);
  if (!text.includes('full refund')) throw new Error('transcript: ' + text);

  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot });

  // A period before any traffic: nothing scored, said in words.
  await page.fill('#since', '2020-01-01');
  await page.fill('#until', '2020-01-31');
  await page.click('#apply');
  await page.locator('#scores .empty', { hasText: 'No agent conversation was scored in this period' }).waitFor();
  expect('status class after', await status.getAttribute('class'), '');
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  if (offsite.length) throw new Error('requests off Parley: ' + offsite.join(' '));
  console.log('scores page ok');
} finally {
  await browser.close();
}
