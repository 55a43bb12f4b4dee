// Drives Parley's /studio page in Debian's headless Chromium (tests/it/studio_page.rs runs
// it on a copy of the example flows): opens flows/ping.yaml, types a misspelt step kind
// (`sned:`), sees the problem at its line, takes the quick fix and sees the drawing grow a
// step; chats with the unsaved text in "Try it" and sees the trace on the drawing; runs
// the tests; saves and sees the live sandbox answer the new text (hot reload); a second
// tab that opened the file before the save is refused with both versions shown; saves
// again and restores the previous version from History. Writes studio-*.png into DIR (and
// what the page showed when it fails into SCRATCH). Usage:
//   node studio.mjs http://127.0.0.1:PORT DIR SCRATCH
import { chromium } from 'playwright-core';
import { until } from './until.mjs';

const [base, shots, scratch] = process.argv.slice(2);
const shot = (name) => `${shots}/studio${name ? `-${name}` : ''}.png`;
const browser = await chromium.launch({
  executablePath: process.env.PARLEY_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
});
const fail = (what) => { throw new Error(what); };
const editorText = (page) => page.evaluate(() => [...document.querySelectorAll('.cm-content .cm-line')].map((l) => l.textContent).join('\n'));

// What the live Parley (not the studio's try-out) answers a new customer who writes `text`.
let customer = 0;
async function sandboxSays(text) {
  customer += 1;
  const r = await fetch(`${base}/sandbox/api/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: `+3460000${String(9000 + customer).padStart(4, '0')}`, text, sender_id: 3 }),
  });
  if (!r.ok) fail(`the sandbox answered ${r.status}: ${await r.text()}`);
  return JSON.stringify((await r.json()).replies);
}
async function untilSandboxSays(text, want, timeout = 20000) {
  const end = Date.now() + timeout;
  let last = '';
  while (Date.now() < end) {
    last = await sandboxSays(text);
    if (want(last)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  fail(`the live sandbox never answered as expected; last replies: ${last}`);
}

async function openPing(page) {
  await page.goto(base + '/studio');
  await page.locator('#files button[data-path="flows/ping.yaml"]').click();
  await page.locator('#file-name', { hasText: 'flows/ping.yaml' }).waitFor();
  await page.locator('#graph svg .node').first().waitFor();
}

let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Anything the page's policy refuses (a data: image, a script from elsewhere).
  page.on('console', (m) => { if (m.text().includes('Content Security Policy')) errors.push(m.text()); });
  await openPing(page);
  if (await page.locator('#graph svg .node').count() !== 1) fail('ping should be drawn as one step');
  const saved = await editorText(page);

  // A second tab opens the same file now, before the first one saves.
  const other = await context.newPage();
  other.setDefaultTimeout(20000);
  await openPing(other);

  // A misspelt step kind at the end: the problem shows at its line, with its fix. (A tab
  // in the background draws nothing: each tab is brought to the front to be used.)
  await page.bringToFront();
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('  - sned: "See you soon"');
  await page.keyboard.press('Escape');
  const mistake = page.locator('.cm-lintRange-error', { hasText: 'sned' });
  await mistake.waitFor();
  const line = await mistake.evaluate((e) => [...document.querySelectorAll('.cm-content .cm-line')].indexOf(e.closest('.cm-line')) + 1);
  const want = saved.split('\n').length;
  if (line !== want) fail(`the problem is drawn on line ${line}, not on line ${want} where \`sned\` is`);
  await page.locator('#problems-count', { hasText: /^1 problem$/ }).waitFor();
  await mistake.hover();
  const tip = page.locator('.cm-tooltip-lint');
  await tip.waitFor();
  const said = await tip.innerText();
  if (!/sned/.test(said) || !/send/.test(said)) fail(`the problem's words do not name the step kind and its fix: ${said}`);
  // The drawing stays as it was before the mistake, and says so.
  await page.locator('#graph-note', { hasText: 'before the last error' }).waitFor();
  await page.screenshot({ path: shot('diagnostic') });
  await tip.locator('.cm-diagnosticAction').first().click();
  await until(page, () => [...document.querySelectorAll('.cm-content .cm-line')].some((l) => l.textContent === '  - send: "See you soon"'));
  // What is left are warnings at most (two sends cost two messages).
  await page.locator('#problems-count', { hasText: /^(no problems|\d+ warnings?)$/ }).waitFor();
  if (await page.locator('.cm-lintRange-error').count() !== 0) fail('the problem is still shown after its fix');

  // The drawing follows the text: a second step, labelled with what it says.
  await until(page, () => document.querySelectorAll('#graph svg .node').length === 2);
  await page.locator('#graph svg .node', { hasText: 'See you soon' }).waitFor();
  // Clicking a step moves the editor to its line; the cursor's step is marked.
  await page.locator('#graph svg .node').first().click();
  await until(page, () => document.querySelector('.cm-activeLine')?.textContent.includes('send:'));
  await until(page, () => document.querySelector('#graph svg .node.current') === document.querySelector('#graph svg .node'));

  // Try it: the unsaved text answers, and the last message's steps are marked.
  await page.fill('#try-text', 'ping');
  await page.click('#try-send');
  await page.locator('#try-chat .msg.bot', { hasText: 'See you soon' }).waitFor();
  await page.locator('#try-chat .msg.bot', { hasText: /^pong/ }).waitFor();
  await until(page, () => document.querySelectorAll('#graph svg .node.traced').length === 2);

  // The flow's tests, on the unsaved text.
  await page.click('#run-tests');
  await page.locator('#tab-tests .summary', { hasText: / passed, 0 failed$/ }).waitFor();
  await page.locator('#tab-tests .result.passed', { hasText: 'Ping answers pong' }).waitFor();

  // Save: written and loaded; the live sandbox answers the new text.
  await page.click('#save');
  await page.locator('#status', { hasText: 'Saved and loaded' }).waitFor();
  if (await page.locator('#file-name.dirty').count() !== 0) fail('the file still reads as not saved');
  await untilSandboxSays('ping', (r) => r.includes('See you soon'));

  // The second tab's save over it is refused, with both versions shown.
  await other.bringToFront();
  await other.locator('.cm-content').click();
  await other.keyboard.press('Control+End');
  await other.keyboard.type('  - send: "Mine"');
  await other.keyboard.press('Escape');
  await other.locator('#graph svg .node', { hasText: 'Mine' }).waitFor();
  await other.click('#save');
  const dialog = other.locator('dialog#conflict');
  await dialog.waitFor();
  await other.locator('#theirs', { hasText: 'See you soon' }).waitFor();
  await other.locator('#yours', { hasText: 'Mine' }).waitFor();
  if ((await other.locator('#theirs').innerText()).includes('Mine')) fail('their version shows the refused text');
  await other.locator('#status', { hasText: 'Not saved' }).waitFor();
  await other.screenshot({ path: shot('conflict') });
  if ((await sandboxSays('ping')).includes('Mine')) fail('the refused save was loaded');
  await other.click('#take-theirs');
  await until(other, () => [...document.querySelectorAll('.cm-content .cm-line')].some((l) => l.textContent.includes('See you soon')));

  // Completion and hover, from Parley's reference: a step kind's start offers `send`,
  // hovering a key explains it.
  const kind = other.locator('.cm-line', { hasText: 'See you soon' }).locator('span', { hasText: /^send$/ });
  await kind.hover();
  await other.locator('.cm-tooltip-hover .studio-hover', { hasText: 'Sends a message' }).waitFor();
  await kind.dblclick();
  await other.keyboard.type('se');
  const offered = other.locator('.cm-tooltip-autocomplete li', { hasText: /^send/ });
  await offered.waitFor();
  await other.locator('.cm-completionInfo', { hasText: 'Sends a message' }).waitFor();
  await other.keyboard.press('Escape');

  // A second save, then History restores the one before it.
  await page.bringToFront();
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+End');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('Control+Shift+ArrowLeft');
  await page.keyboard.type('later');
  await until(page, () => [...document.querySelectorAll('.cm-content .cm-line')].some((l) => l.textContent === '  - send: "See you later"'));
  await page.click('#save');
  await page.locator('#status', { hasText: 'Saved and loaded' }).waitFor();
  await untilSandboxSays('ping', (r) => r.includes('See you later'));
  await page.click('#show-history');
  const rows = page.locator('#tab-history .save');
  await rows.nth(1).waitFor();
  await rows.first().locator('details summary').click();
  await rows.first().locator('pre .add', { hasText: 'See you later' }).waitFor();
  await page.screenshot({ path: shot('history') });
  await rows.nth(1).locator('button.restore').click();
  await page.locator('#status', { hasText: /^Restored .* and loaded/ }).waitFor();
  await until(page, () => [...document.querySelectorAll('.cm-content .cm-line')].some((l) => l.textContent === '  - send: "See you soon"'));
  await untilSandboxSays('ping', (r) => r.includes('See you soon') && !r.includes('See you later'));

  // The saved version's numbers on the drawing (the sandbox's pings above count).
  await page.check('#insights-on');
  await until(page, () => [...document.querySelectorAll('#graph svg .node text.numbers')].some((t) => /^\d+ in/.test(t.textContent)));

  // The README's picture: the welcome menu drawn with its numbers, tried with a button.
  for (let i = 0; i < 3; i++) await sandboxSays('hi');
  await page.locator('#files button[data-path="flows/welcome.yaml"]').click();
  await page.locator('#file-name', { hasText: 'flows/welcome.yaml' }).waitFor();
  await page.locator('#graph svg .node.outside', { hasText: 'lead_capture' }).waitFor();
  await until(page, () => [...document.querySelectorAll('#graph svg .node text.numbers')].some((t) => /^3 in/.test(t.textContent)));
  await page.click('.tabs button[data-tab="try"]');
  await page.fill('#try-text', 'hi');
  await page.click('#try-send');
  await page.locator('#try-chat button.reply-button', { hasText: 'Get a quote' }).click();
  await page.locator('#try-chat .msg.bot', { hasText: 'name of your company' }).waitFor();
  await page.locator('#graph svg .node.goto_flow', { hasText: 'lead_capture' }).click();
  await page.screenshot({ path: shot('') });

  // A change that breaks ping's test: found with the editor's search, written over. The
  // failure is listed; its link opens the test file with the failure at its line.
  await page.locator('#files button[data-path="flows/ping.yaml"]').click();
  await page.locator('#graph svg .node', { hasText: 'See you soon' }).waitFor();
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+f');
  await page.keyboard.type('pong ');
  await page.keyboard.press('Enter');
  await page.keyboard.press('Escape');
  await page.keyboard.type('pang ');
  await until(page, () => [...document.querySelectorAll('.cm-content .cm-line')].some((l) => l.textContent.includes('"pang {{')));
  await page.click('#run-tests');
  await page.locator('#tab-tests .summary', { hasText: /, 1 failed$/ }).waitFor();
  const failed = page.locator('#tab-tests .result.failed', { hasText: 'Ping answers pong' });
  await failed.locator('.why', { hasText: 'pang' }).waitFor();
  await page.locator('#graph svg .node', { hasText: 'pang' }).waitFor();
  await page.screenshot({ path: shot('tests') });
  const where = await failed.locator('.where').innerText();
  const at = Number(where.match(/line (\d+)$/)[1]);
  page.once('dialog', (d) => d.accept());
  await failed.locator('.where').click();
  await page.locator('#file-name', { hasText: 'flows/tests/ping.test.yaml' }).waitFor();
  const failure = page.locator('.cm-lintRange-error');
  await failure.first().waitFor();
  const onLine = await failure.first().evaluate((e) => [...document.querySelectorAll('.cm-content .cm-line')].indexOf(e.closest('.cm-line')) + 1);
  if (onLine !== at) fail(`the failure is drawn on line ${onLine}, not line ${at}`);
  await until(page, () => document.querySelector('.cm-activeLine')?.textContent.includes('expect_reply'));

  // A file with a mistake is saved but not loaded: the page says so, and Parley goes on
  // with the version before it.
  await page.locator('#files button[data-path="flows/ping.yaml"]').click();
  await page.locator('#graph svg .node', { hasText: 'See you soon' }).waitFor();
  await page.locator('.cm-line', { hasText: 'See you soon' }).locator('span', { hasText: /^send$/ }).dblclick();
  await page.keyboard.type('sned');
  await page.keyboard.press('Escape');
  await page.locator('#problems-count', { hasText: /^1 problem$/ }).waitFor();
  await page.click('#save');
  await page.locator('#status', { hasText: /^Saved but NOT loaded: 1 problem/ }).waitFor();
  await page.locator('#status', { hasText: 'sned' }).waitFor();
  if (!(await sandboxSays('ping')).includes('See you soon')) fail('the previous version is no longer served');

  // A 200-step flow: every step drawn, and a click on the last one finds its line.
  await page.locator('#files button[data-path="flows/long.yaml"]').click();
  await until(page, () => document.querySelectorAll('#graph svg .node').length === 200);
  await page.locator('#graph svg .node', { hasText: 'step 200?' }).click();
  await until(page, () => document.querySelector('.cm-activeLine')?.textContent.includes('step 200?'));
  await until(page, () => document.querySelector('#graph svg .node.current')?.textContent.includes('step 200?'));

  if (errors.length) fail(`the page threw: ${errors.join('\n')}`);
  console.log('ok');
} catch (e) {
  // What the page showed, to tell a page that failed from a server that answered wrong.
  const seen = page && await page.evaluate(() => ['#status', '#problems-count', '#graph', '#try-chat', '#tab-tests', '#tab-history']
    .map((s) => `${s}: ${document.querySelector(s)?.innerText}`).join('\n')).catch(() => '');
  if (page) await page.screenshot({ path: `${scratch || shots}/studio-failed.png` }).catch(() => {});
  console.error(`the page showed:\n${seen}`);
  throw e;
} finally {
  await browser.close();
}
