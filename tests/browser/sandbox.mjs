// Opens Parley's /sandbox page in Debian's headless Chromium, types "hi", taps a reply
// button and waits for the bot's answer; saves a screenshot. Usage:
//   node sandbox.mjs http://127.0.0.1:PORT /path/to/screenshot.png
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
  await page.fill('#text', 'hi');
  await page.click('#send');
  const tap = page.locator('button.reply-button', { hasText: 'Get a quote' });
  await tap.waitFor();
  await page.locator('#trace', { hasText: 'WINNER' }).waitFor();
  await tap.click();
  await page.locator('.msg.out', { hasText: 'What is the name of your company?' }).waitFor();
  await page.locator('#trace', { hasText: 'the answer is saved as `choice`' }).waitFor();
  await page.locator('#flows', { hasText: 'lead_capture' }).waitFor();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log('ok');
} finally {
  await browser.close();
}
