// Opens Parley's /insights page in Debian's headless Chromium after the test ran a split
// (welcome/opening, arms a and b) for a few hundred customers, and checks the Experiments
// section against the API's own answer: each arm's counts, finish rate and its bar, the
// difference with the first arm, the chance, the verdict in plain words, the steps. Every
// request stays on Parley (no CDN: the page works offline). Saves a screenshot. Usage:
//   node experiments.mjs http://127.0.0.1:PORT /path/to/screenshot.png
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
  const card = page.locator('section.experiment[data-experiment="welcome/opening"]');
  await card.waitFor();
  expect('kind', (await card.locator('h3 small').textContent()).trim(), 'split');

  // The API's answer for the same period, read by the page's own rules.
  const api = await page.evaluate(async () => {
    const r = await fetch('/sandbox/api/insights/experiments?' + period());
    return r.json();
  });
  const x = api.experiments.find((e) => e.experiment === 'welcome/opening');
  expect('arms', x.arms.map((a) => a.arm).join(','), 'a,b');
  if (x.arms[0].started + x.arms[1].started !== 300) throw new Error('started: ' + JSON.stringify(x.arms));
  for (const a of x.arms) {
    const row = card.locator(`tr[data-arm="${a.arm}"]`);
    expect(a.arm + ' started', await row.locator('.started').textContent(), String(a.started));
    expect(a.arm + ' finished', await row.locator('.finished').textContent(), String(a.finished));
    expect(a.arm + ' in progress', await row.locator('.in-progress').textContent(), String(a.in_progress));
    const rate = Math.round((a.finished * 1000) / a.started) / 10 + '%';
    expect(a.arm + ' rate', await row.locator('.finish-rate').textContent(), rate);
    expect(a.arm + ' cost', await row.locator('.cost').textContent(), a.cost_per_finished === null ? '–' : a.cost_per_finished);
    const width = await row.locator('.rate-bar .fill').evaluate((e) => parseFloat(e.style.width));
    if (Math.abs(width - 100 * a.finish_rate) > 0.01) throw new Error(a.arm + ' bar width ' + width);
  }
  // One priced message (the question) per contact: the arms' costs are in proportion.
  const [ca, cb] = x.arms.map((a) => a.cost_micros);
  if (!(ca > 0) || ca * x.arms[1].started !== cb * x.arms[0].started) throw new Error('costs: ' + ca + ' ' + cb);
  const b = x.arms[1];
  const c = b.comparison;
  const verdict = await card.locator('.verdict[data-arm="b"]').textContent();
  expect('verdict', verdict, 'b: ' + c.verdict);
  if (!/^b finishes \d+\.\d points (more|less) often than a; /.test(c.verdict) && !c.verdict.startsWith('not sure yet')
      && !c.verdict.startsWith('no real difference')) throw new Error('verdict words: ' + c.verdict);
  const diff = await card.locator('tr[data-arm="b"] .difference').textContent();
  const sign = c.difference_points > 0 ? '+' : '−';
  if (!diff.startsWith(sign + Math.abs(c.difference_points).toFixed(1) + ' pts (')) throw new Error('difference cell: ' + diff);
  expect('difference colour', await card.locator('tr[data-arm="b"] .difference').getAttribute('class'),
    'difference ' + (!c.significant ? 'unsure' : c.difference_points > 0 ? 'better' : 'worse'));
  expect('the first arm has no comparison', await card.locator('tr[data-arm="a"] .difference').textContent(), '–');
  // Steps: the ask's answers per arm.
  await card.locator('details summary').click();
  const ask = b.steps.find((s) => s.step === 'step 2');
  const cell = await card.locator('tr[data-step="step 2"] td').nth(2).textContent();
  if (!cell.startsWith(ask.answered + '/' + ask.entered + ' answered')) throw new Error('step 2 of b: ' + cell);
  // The split step is the arm's first: entered and answered by all of the arm.
  const split = await card.locator('tr[data-step="opening"] td').nth(2).textContent();
  if (!split.startsWith(b.started + '/' + b.started + ' answered (100%)')) throw new Error('opening of b: ' + split);

  await page.screenshot({ path: screenshot });

  // A period before any traffic: no experiment.
  await page.fill('#since', '2020-01-01');
  await page.fill('#until', '2020-01-31');
  await page.click('#apply');
  await page.locator('#experiments .empty', { hasText: 'No experiment was counted' }).waitFor();
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  if (offsite.length) throw new Error('requests off Parley: ' + offsite.join(' '));
  console.log('experiments page ok');
} finally {
  await browser.close();
}
