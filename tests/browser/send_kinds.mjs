// Opens Parley's /sandbox page in Debian's headless Chromium and checks the send kinds of
// issue 16: "typing…" under the chat while a `typing: true` flow's slow step runs, a
// reaction shown as its emoji, and a location request whose "Send location" button answers
// with a location. Saves a screenshot. Usage:
//   node send_kinds.mjs http://127.0.0.1:PORT /path/to/screenshot.png
import { chromium } from 'playwright-core';
import { until } from './until.mjs';

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

  // A slow step: "typing…" shows while it runs and goes once the reply is in.
  await page.fill('#text', 'order');
  await page.click('#send');
  await page.locator('#typing', { hasText: 'typing…' }).waitFor();
  await page.locator('.msg.out', { hasText: 'Your order is packed' }).waitFor();
  await until(page, () => document.querySelector('#typing').textContent === '');

  // A reaction and a location request; the button shares a location as the customer.
  await page.fill('#text', 'deliver');
  await page.click('#send');
  await page.locator('.msg.out .reaction', { hasText: '👍' }).waitFor();
  const share = page.locator('.msg.out', { hasText: 'Where shall we deliver?' }).locator('button.share-location');
  await share.waitFor();
  await share.click();
  await page.locator('.msg.out', { hasText: 'Delivering to Puerta del Sol' }).waitFor();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log('ok');
} finally {
  await browser.close();
}
