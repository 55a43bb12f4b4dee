// Opens Parley's /sandbox page in Debian's headless Chromium, starts a flow whose `form`
// step sends a WhatsApp Flow, fills in the fields the page renders from the step's
// `fields:`, submits it and waits for the bot to use the answers. Usage:
//   node form.mjs http://127.0.0.1:PORT /path/to/screenshot.png
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
  await page.fill('#text', 'book');
  await page.click('#send');
  const form = page.locator('form.flow-form');
  await form.waitFor();
  await form.locator('input[name="date"]').fill('2027-05-06');
  await form.locator('input[name="people"]').fill('4');
  await form.locator('button[type="submit"]', { hasText: 'Book now' }).click();
  await page.locator('.msg.out', { hasText: 'See you on 2027-05-06, 4 of you' }).waitFor();
  await page.locator('#trace', { hasText: 'the form is submitted and saved as `booking`' }).waitFor();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log('ok');
} finally {
  await browser.close();
}
