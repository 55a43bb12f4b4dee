// Opens Parley's /sandbox page in Debian's headless Chromium, types "hi", taps a reply
// button and waits for the bot's answer, attaches a photo and sees it from the media store; then switches to a new customer (an empty chat
// the bot greets afresh), asks for a person, sees the handoff line, releases it and sees
// the bot answer again. Saves screenshots (the handoff in `…-handoff.png`). Usage:
//   node sandbox.mjs http://127.0.0.1:PORT /path/to/screenshot.png
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
  await page.fill('#text', 'hi');
  await page.click('#send');
  const tap = page.locator('button.reply-button', { hasText: 'Get a quote' });
  await tap.waitFor();
  await page.locator('#trace', { hasText: 'WINNER' }).waitFor();
  await tap.click();
  await page.locator('.msg.out', { hasText: 'What is the name of your company?' }).waitFor();
  await page.locator('#trace', { hasText: 'the answer is saved as `choice`' }).waitFor();
  await page.locator('#flows', { hasText: 'lead_capture' }).waitFor();

  // A photo from the customer (the 📎 button): kept in the media store and shown in the
  // chat from there, loaded for real.
  await page.setInputFiles('#attach', { name: 'box.png', mimeType: 'image/png', buffer: Buffer.from(
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64') });
  await page.locator('.msg.in img.media').waitFor();
  await until(page, () => [...document.querySelectorAll('.msg.in img.media')]
    .some((i) => i.complete && i.naturalWidth > 0 && i.src.includes('/sandbox/api/media/')));

  // A new customer: another number, an empty chat, and the bot greets them afresh.
  const menus = page.locator('.msg.out', { hasText: 'What can I do for you?' });
  const before = await page.inputValue('#phone');
  await page.click('#new-customer');
  await until(page, (old) => document.querySelector('#phone').value !== old, before);
  await page.locator('#chat', { hasText: 'No messages yet' }).waitFor();
  if (await page.locator('#chat .msg').count() !== 0) throw new Error('the new customer\'s chat is not empty');
  await page.fill('#text', 'hi');
  await page.click('#send');
  await menus.first().waitFor();
  if (await page.locator('#chat .msg').count() !== 2) throw new Error('the new customer\'s chat shows older messages');

  // Talk to a person: the chat says until when the bot stays silent, and offers to release.
  await page.locator('button.reply-button', { hasText: 'Talk to a person' }).click();
  // After 20:00 UTC the 4 h handoff ends tomorrow: the time then comes with its date.
  const handoff = page.locator('.msg.system', { hasText: /^Handed off to a person until (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC — the bot stays silent/ });
  await handoff.waitFor();
  await page.fill('#text', 'hello?');
  await page.click('#send');
  await page.locator('#trace', { hasText: 'the bot stays silent' }).waitFor();
  await page.screenshot({ path: screenshot.replace(/\.png$/, '-handoff.png'), fullPage: true });
  // The release's answer is awaited, so that a failure says whether the click reached
  // Parley and what it answered, or whether the chat did not show what it did.
  const answered = page.waitForResponse((r) => r.url().includes('/release') && r.request().method() === 'POST');
  await handoff.locator('button.release').click();
  const answer = await answered;
  const body = await answer.text();
  if (!answer.ok()) throw new Error(`the release answered ${answer.status()}: ${body}`);
  try {
    await page.locator('.msg.system', { hasText: 'Released from this page — the bot answers again' }).waitFor();
  } catch (e) {
    const chat = await page.evaluate(async (p) => (await fetch('/sandbox/api/contacts/' + encodeURIComponent(p) + '/messages')).text(), await page.inputValue('#phone'));
    throw new Error(`${e.message}\nthe release answered ${body}\nthe chat shows: ${await page.locator('#chat').innerText()}\nthe API answers: ${chat}`);
  }
  if (await page.locator('button.release').count() !== 0) throw new Error('Release is still offered after the release');
  await page.fill('#text', 'hi');
  await page.click('#send');
  await menus.nth(1).waitFor();
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log('ok');
} finally {
  await browser.close();
}
