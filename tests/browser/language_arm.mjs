// Issue 58 in Debian's headless Chromium (tests/it/try_language_arm.rs runs it on a flow in
// English and Spanish with a split `welcome/opening`): on the /sandbox page, picks Spanish
// and the arm `long` for a new customer, sends "hi", sees the Spanish replies and the trace's
// language and arm lines; in the /studio's "Try it", picks Spanish and the arm `short`, sends
// "hi" and sees the same. Writes sandbox-language-arm.png and studio-try-language.png into
// DIR. Usage:
//   node language_arm.mjs http://127.0.0.1:PORT DIR
import { chromium } from 'playwright-core';
import { until } from './until.mjs';

const [base, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.PARLEY_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
});
const fail = (what) => { throw new Error(what); };
const SPANISH = "language es (Español): the contact's language field";
let page;
try {
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(20000);
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  // The sandbox page: a new customer, Spanish and the long arm.
  await page.goto(base + '/sandbox');
  await page.locator('#try-language option[value="es"]').waitFor({ state: 'attached' });
  const before = await page.inputValue('#phone');
  await page.click('#new-customer');
  await until(page, (old) => document.querySelector('#phone').value !== old, before);
  const chose = (path) => page.waitForResponse((r) => r.url().endsWith('/sandbox/api/customers') && r.request().method() === 'POST' && r.request().postData().includes(path));
  let answered = chose('"language":"es"');
  await page.selectOption('#try-language', 'es');
  if ((await answered).status() !== 200) fail('choosing Spanish was refused');
  answered = chose('"welcome/opening":"long"');
  await page.selectOption('#try-as select[data-experiment="welcome/opening"]', 'long');
  if ((await answered).status() !== 200) fail('choosing the long arm was refused');
  await page.locator('#try-note', { hasText: 'Español (es); welcome/opening → long' }).waitFor();
  await page.fill('#text', 'hi');
  await page.click('#send');
  await page.locator('.msg.out', { hasText: '¡Hola! ¿En qué puedo ayudarte?' }).waitFor();
  await page.locator('.msg.out', { hasText: '¡Hola y bienvenido! Te cuento lo que puedo hacer' }).waitFor();
  const lines = page.locator('#trace-choices');
  await lines.locator('div', { hasText: SPANISH }).waitFor();
  await lines.locator('div', { hasText: "split welcome/opening: arm long, forced by the contact's experiment_arms field" }).waitFor();
  // A reload reads the choices back from the customer's contact.
  const phone = await page.inputValue('#phone');
  await page.reload();
  await page.fill('#phone', phone);
  await page.dispatchEvent('#phone', 'change');
  await until(page, () => document.querySelector('#try-language').value === 'es');
  await page.fill('#text', 'hi');
  await page.click('#send');
  await lines.locator('div', { hasText: SPANISH }).waitFor();
  await page.screenshot({ path: `${shots}/sandbox-language-arm.png`, fullPage: true });

  // The studio's try: the same choices on the text being edited.
  await page.goto(base + '/studio');
  await page.locator('#files button[data-path="flows/welcome.yaml"]').click();
  await page.locator('#file-name', { hasText: 'flows/welcome.yaml' }).waitFor();
  await page.locator('#try-language option[value="es"]').waitFor({ state: 'attached' });
  await page.selectOption('#try-language', 'es');
  await page.selectOption('#try-as select[data-experiment="welcome/opening"]', 'short');
  await page.fill('#try-text', 'hi');
  await page.click('#try-send');
  await page.locator('#try-chat .msg.bot', { hasText: '¡Hola! ¿En qué puedo ayudarte?' }).waitFor();
  await page.locator('#try-chat .msg.bot', { hasText: 'Hola corto' }).waitFor();
  const chosen = page.locator('#try-chat .msg.chosen');
  await chosen.filter({ hasText: SPANISH }).waitFor();
  await chosen.filter({ hasText: "split welcome/opening: arm short, forced by the contact's experiment_arms field" }).waitFor();
  await page.screenshot({ path: `${shots}/studio-try-language.png`, fullPage: true });
  if (errors.length) fail(`the page had errors: ${errors.join('; ')}`);
} catch (e) {
  if (page) {
    const text = await page.evaluate(() => document.body.innerText).catch(() => '');
    console.error(`what the page showed:\n${text.slice(0, 4000)}`);
  }
  throw e;
} finally {
  await browser.close();
}
