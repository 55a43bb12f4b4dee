// Opens Parley's /insights page in Debian's headless Chromium after the test sent known
// traffic (5 customers start `survey`, 3 answer step 2, 1 answers step 3), and checks the
// funnel it draws: counts, drop-off, bar widths, the flow's outcomes, the CSV links, and a
// period with nothing in it. Saves a screenshot. Usage:
//   node insights.mjs http://127.0.0.1:PORT /path/to/screenshot.png
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
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/insights');
  await page.waitForSelector('body[data-loaded="true"]');
  const survey = page.locator('section.flow[data-flow="survey"]');
  await survey.waitFor();
  // Flows with runs come first.
  expect('first flow', await page.locator('section.flow').first().getAttribute('data-flow'), 'survey');
  const step = (key) => survey.locator(`.step[data-step="${key}"]`);
  const figures = async (key) => [
    await step(key).locator('.entered').textContent(),
    await step(key).locator('.answered').textContent(),
    await step(key).locator('.dropoff').textContent(),
  ];
  expect('step 1', (await figures('step 1')).join('|'), '5|5|');
  expect('step 2', (await figures('step 2')).join('|'), '5|3|−2 (40%)');
  expect('step 3', (await figures('step 3')).join('|'), '3|1|−2 (66.7%)');
  expect('step 4', (await figures('step 4')).join('|'), '1|1|');
  expect('step 2 detail', await step('step 2').locator('.detail').first().textContent(), '2 waiting');
  // What each step's messages became: sent, delivered and read with their rates, and cost.
  const sent = await step('step 1').locator('.messages').textContent();
  if (!/^5 sent · \d delivered \(\d+(\.\d)?%\) · \d read \(\d+(\.\d)?%\) · cost \d/.test(sent)) throw new Error('step 1 messages: ' + sent);
  // Bars are drawn to the scale of the most entered step.
  const width = (key, bar) => step(key).locator(bar).evaluate((e) => e.style.width);
  expect('step 2 entered bar', await width('step 2', '.entered-bar'), '100%');
  expect('step 2 answered bar', await width('step 2', '.answered-bar'), '60%');
  expect('step 4 answered bar', await width('step 4', '.answered-bar'), '20%');
  expect('started', await survey.locator('[data-outcome="started"]').textContent(), '5');
  expect('finished', await survey.locator('[data-outcome="finished"]').textContent(), '1');
  expect('in progress', await survey.locator('[data-outcome="in_progress"]').textContent(), '4');
  // A loaded flow nobody ran says so.
  await page.locator('section.flow[data-flow="idle"] .empty', { hasText: 'No step was entered' }).waitFor();

  // The CSV links answer with the same counts.
  const csvHref = await survey.locator('h2 a').getAttribute('href');
  const csv = await page.evaluate(async (u) => (await fetch(u)).text(), csvHref);
  if (!csv.split('\r\n').some((l) => l.startsWith('survey,step 2,step 2 (line 5),ask,5,3,0,0,0,0,2,5,5,'))) throw new Error('steps CSV: ' + csv);
  const flowsCsv = await page.evaluate(async (u) => (await fetch(u)).text(), await page.locator('#csv').getAttribute('href'));
  if (!flowsCsv.startsWith('flow,loaded,started,')) throw new Error('flows CSV: ' + flowsCsv);

  await page.screenshot({ path: screenshot, fullPage: true });

  // A period before any traffic: every funnel is empty.
  await page.fill('#since', '2020-01-01');
  await page.fill('#until', '2020-01-31');
  await page.click('#apply');
  await page.locator('section.flow[data-flow="survey"] .empty').waitFor();
  expect('started then', await page.locator('section.flow[data-flow="survey"] [data-outcome="started"]').textContent(), '0');
  // A period the API refuses is shown as its error, in plain words.
  await page.fill('#since', '2020-01-01');
  await page.fill('#until', '2026-01-31');
  await page.click('#apply');
  await page.locator('#status.error', { hasText: 'longer than 366 days' }).waitFor();
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  console.log('insights page ok');
} finally {
  await browser.close();
}
