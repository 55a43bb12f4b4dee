// Opens Parley's /insights page in Debian's headless Chromium after the test asked the
// example support agent on-topic and off-topic questions, and checks the "What the agents
// could not answer" section against the API's own answer: per flow, the questions in the
// API's order with how often each was asked, its step and when it was last asked; no error
// in the page's status, no request off Parley. Saves a screenshot. Usage:
//   node unanswered.mjs http://127.0.0.1:PORT /path/to/screenshot.png
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
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
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

  // The API's answer for the same period.
  const api = await page.evaluate(async () => {
    const r = await fetch('/sandbox/api/insights/unanswered?' + period());
    return r.json();
  });
  expect('flows', api.flows.map((f) => f.flow).join(','), 'support_agent');
  const cards = page.locator('#unanswered .unanswered-flow');
  expect('cards', await cards.count(), api.flows.length);
  for (const [i, f] of api.flows.entries()) {
    const card = cards.nth(i);
    expect('flow ' + i, await card.getAttribute('data-flow'), f.flow);
    const total = f.questions.reduce((n, q) => n + q.count, 0);
    expect(f.flow + ' title', await card.locator('h3').textContent(),
      f.flow + total + ' askings of ' + f.questions.length + ' questions');
    const rows = card.locator('tr.question');
    expect(f.flow + ' rows', await rows.count(), f.questions.length);
    for (const [j, q] of f.questions.entries()) {
      const cells = await rows.nth(j).locator('td').allTextContents();
      expect(f.flow + ' row ' + j, cells.join(' | '),
        [q.question, String(q.count), q.step, q.last_seen.slice(0, 16).replace('T', ' ')].join(' | '));
    }
  }
  // The off-topic questions, and only those, the most asked first.
  const listed = api.flows[0].questions.map((q) => q.question + ' ×' + q.count).join('; ');
  expect('questions', listed,
    'What are your opening hours? ×2; Is the blue jacket waterproof? ×1; Can I pay with PayPal? Call me on +34 600 123 456 ×1');

  await page.locator('#unanswered').scrollIntoViewIfNeeded();
  await page.screenshot({ path: screenshot });

  // A period before any traffic: nothing unanswered, said in words.
  await page.fill('#since', '2020-01-01');
  await page.fill('#until', '2020-01-31');
  await page.click('#apply');
  await page.locator('#unanswered .empty', { hasText: 'No unanswered questions in this period' }).waitFor();
  expect('status class after', await status.getAttribute('class'), '');
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  if (offsite.length) throw new Error('requests off Parley: ' + offsite.join(' '));
  console.log('unanswered page ok');
} finally {
  await browser.close();
}
