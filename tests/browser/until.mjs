// Waits until `fn(arg)`, evaluated in the page, is truthy. Playwright's
// page.waitForFunction evaluates its predicate with eval inside the page, which the
// sandbox page's Content-Security-Policy (no 'unsafe-eval', on purpose) refuses; this
// polls from Node instead, and page.evaluate goes through the DevTools protocol, which the
// policy does not cover.
export async function until(page, fn, arg, timeout = 15000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await page.evaluate(fn, arg)) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${fn}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
