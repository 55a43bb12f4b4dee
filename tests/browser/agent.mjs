// Opens Parley's /sandbox page in headless Chromium, asks the example assistant (a scripted
// model) about an order, and checks the trace shows its model calls: tokens, the tool call
// accepted, and the prompt folded away until clicked. Usage:
//   node agent.mjs http://127.0.0.1:PORT /path/to/screenshot.png
import { chromium } from 'playwright-core';

const [base, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.PARLEY_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15000);
  await page.goto(base + '/sandbox');
  await page.fill('#text', 'question: my order is A-12345');
  await page.click('#send');
  await page.locator('.msg.out', { hasText: 'I noted order A-12345' }).waitFor();
  const calls = page.locator('#trace .exchange');
  await calls.nth(1).waitFor();
  await page.locator('#trace', { hasText: 'Model calls' }).waitFor();
  await calls.first().locator('pre', { hasText: 'save {"order_number":"A-12345"}: accepted' }).waitFor();
  if (!/model assistant: \d+ \+ \d+ tokens/.test(await calls.first().innerText())) {
    throw new Error('the model call shows no tokens: ' + await calls.first().innerText());
  }
  // The prompt is folded away, and shows when clicked.
  const prompt = calls.first().locator('details pre', { hasText: 'one task only' });
  if (await prompt.isVisible()) throw new Error('the prompt is not folded away');
  await calls.first().locator('summary').click();
  await prompt.waitFor({ state: 'visible' });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log('ok');
} finally {
  await browser.close();
}
