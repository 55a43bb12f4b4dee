// Drives Parley's /inbox page in Debian's headless Chromium (tests/it/inbox_page.rs runs
// it with two customers handed to a person: Lena, whose 24-hour window has closed, and
// Maria, who wrote a minute ago). Asks for the key (a wrong one is refused in plain
// words), lists both (Lena waited longest), opens Maria, replies with the keyboard and
// sees the reply in the history; opens Lena, finds free text replaced by the templates,
// fills the placeholder and sends one; gives Maria back to the bot. Writes inbox.png and
// inbox-closed-window.png into DIR (and what the page showed when it fails into SCRATCH).
// Usage:
//   node inbox.mjs http://127.0.0.1:PORT KEY DIR SCRATCH
import { chromium } from 'playwright-core';
import { until } from './until.mjs';

const [base, key, shots, scratch] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.PARLEY_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
});
const fail = (what) => { throw new Error(what); };

let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.text().includes('Content Security Policy')) errors.push(m.text()); });
  await page.goto(`${base}/inbox`);

  // The key: asked for at once; a wrong one is refused in plain words.
  await page.locator('#key-dialog[open]').waitFor();
  await page.fill('#key', 'not-the-key');
  await page.keyboard.press('Enter');
  await page.locator('#key-problem', { hasText: 'That key was not accepted' }).waitFor();
  await page.fill('#key', key);
  await page.keyboard.press('Enter');
  await until(page, () => !document.querySelector('#key-dialog').open);

  // The list: both customers, Lena (waiting longest) first.
  await until(page, () => document.querySelectorAll('#list .item').length === 2);
  const names = await page.locator('#list .item .name').allInnerTexts();
  if (names.join('|') !== 'Lena Fischer|Maria Lopez') fail(`the list is ${names.join('|')}`);
  await page.locator('#summary', { hasText: '2 conversations handed to a person' }).waitFor();
  if (!(await page.locator('#list .item').first().locator('.wait').innerText()).startsWith('waiting')) fail('Lena is not shown waiting');

  // Maria, opened from the keyboard: her history, an open window, a reply sent with Ctrl+Enter.
  await page.locator('#list .item').first().focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.locator('#who', { hasText: 'Maria Lopez' }).waitFor();
  await page.locator('#history .msg.inbound', { hasText: 'I need help with my order' }).waitFor();
  await page.locator('#history .msg.system', { hasText: 'handed the conversation to a person' }).waitFor();
  await page.locator('#window', { hasText: 'Window open until' }).waitFor();
  if (await page.locator('#closed').isVisible()) fail('the template box shows while the window is open');
  await page.locator('#text').click();
  await page.keyboard.type('Hello Maria, this is Ana. Let me check your order.');
  await page.keyboard.press('Control+Enter');
  await page.locator('#history .msg.person', { hasText: 'Hello Maria, this is Ana' }).locator('.by', { hasText: 'Person · ana' }).waitFor();
  await page.locator('#reply-status', { hasText: 'Sent' }).waitFor();
  if (await page.inputValue('#text') !== '') fail('the reply box was not emptied');
  // Polling redraws only what changed (the reply's status): the customer's messages keep
  // their nodes.
  await page.evaluate(() => { for (const m of document.querySelectorAll('#history .msg.inbound')) m.dataset.seen = '1'; });
  await page.waitForTimeout(3500);
  if (await page.locator('#history .msg.inbound[data-seen="1"]').count() !== 2) fail('the history was redrawn without a change');
  await page.locator('#history .msg.person', { hasText: 'accepted' }).waitFor();
  await page.screenshot({ path: `${shots}/inbox.png` });

  // Lena: the window closed, so free text gives way to the approved templates.
  await page.locator('#list .item', { hasText: 'Lena Fischer' }).click();
  await page.locator('#who', { hasText: 'Lena Fischer' }).waitFor();
  await page.locator('#window', { hasText: 'Window closed' }).waitFor();
  await page.locator('#closed-why', { hasText: 'The 24-hour window closed' }).waitFor();
  if (await page.locator('#text').isVisible()) fail('free text is offered in a closed window');
  await page.locator('#template option', { hasText: 'menu_reminder (en)' }).waitFor({ state: 'attached' });
  await page.fill('#placeholders input[data-name="1"]', 'Lena');
  await page.locator('#template-preview', { hasText: 'Hi Lena, reply MENU to continue.' }).waitFor();
  await page.screenshot({ path: `${shots}/inbox-closed-window.png` });
  await page.click('#send-template');
  await page.locator('#history .msg.person', { hasText: 'Hi Lena, reply MENU to continue.' }).waitFor();

  // Maria goes back to the bot: she leaves the list.
  await page.locator('#list .item', { hasText: 'Maria Lopez' }).click();
  await page.locator('#who', { hasText: 'Maria Lopez' }).waitFor();
  await page.click('#release');
  await page.locator('#empty', { hasText: 'Given back to the bot' }).waitFor();
  await until(page, () => document.querySelectorAll('#list .item').length === 1);
  await page.locator('#summary', { hasText: '1 conversation handed to a person' }).waitFor();

  if (errors.length) fail(`the page threw: ${errors.join('\n')}`);
  console.log('ok');
} catch (e) {
  const seen = page && await page.evaluate(() => ['#error', '#summary', '#list', '#head', '#history', '#reply', '#key-problem']
    .map((s) => `${s}: ${document.querySelector(s)?.innerText}`).join('\n')).catch(() => '');
  if (page) await page.screenshot({ path: `${scratch || shots}/inbox-failed.png` }).catch(() => {});
  console.error(`the page showed:\n${seen}`);
  throw e;
} finally {
  await browser.close();
}
