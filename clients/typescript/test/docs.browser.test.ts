// Swagger UI in a real browser: load keel's /docs in headless Chromium (the
// system one, CHROMIUM_PATH, default /usr/bin/chromium; playwright-core never
// downloads a browser), find the operations, and use "Try it out" → "Execute"
// to register, log in, authorize with the token and read the profile.
// Needs a running keel (KEEL_URL); skipped when there is no Chromium, except under CI=true.
// A screenshot of the final page goes to $SCREENSHOT_DIR (default /tmp).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { chromium, type Locator, type Page } from "playwright-core";

const baseUrl = process.env.KEEL_URL ?? "http://127.0.0.1:8080";
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const screenshotDir = process.env.SCREENSHOT_DIR ?? "/tmp";
const timeout = 30_000; // per action; generous, as CI machines can be busy

// playwright-core adds --headless and a fresh temporary --user-data-dir itself.
const args = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// op returns the block of one operation: Swagger UI's id is operations-<tag>-<operationId>.
function op(page: Page, tag: string, operationId: string): Locator {
  return page.locator(`#operations-${tag}-${operationId}`);
}

// execute expands an operation, fills its JSON body if given, presses Execute
// and returns the live response's status code and body text.
async function execute(block: Locator, body?: unknown): Promise<{ status: number; text: string }> {
  if (!(await block.locator(".opblock-body").isVisible())) {
    await block.locator(".opblock-summary").first().click();
  }
  const tryOut = block.locator("button.try-out__btn");
  if ((await tryOut.textContent())?.trim() === "Try it out") {
    await tryOut.click();
  }
  if (body !== undefined) {
    await block.locator("textarea.body-param__text").fill(JSON.stringify(body, null, 2));
  }
  await block.locator("button.execute").click();
  const live = block.locator(".live-responses-table tbody .response").first();
  await live.waitFor({ timeout });
  const status = Number((await live.locator(".response-col_status").textContent())?.trim());
  const text = (await live.locator(".response-col_description pre").first().textContent()) ?? "";
  return { status, text };
}

// Under CI a missing browser is a failure, not a skip.
const skip = !existsSync(executablePath) && process.env.CI !== "true" && `no Chromium at ${executablePath}`;

test("Swagger UI at /docs renders the spec and executes requests", { skip }, async () => {
  const browser = await chromium.launch({ executablePath, headless: true, args, timeout: 2 * timeout });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1600 } });
    page.setDefaultTimeout(timeout);
    page.setDefaultNavigationTimeout(2 * timeout);
    const problems: string[] = [];
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
    });
    page.on("requestfailed", (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));

    const res = await page.goto(`${baseUrl}/docs`);
    assert.equal(res?.status(), 200);
    await page.locator(".swagger-ui .info .title").waitFor();
    assert.match((await page.locator(".swagger-ui .info .title").textContent()) ?? "", /keel/);

    // The operations the spec lists are all on the page.
    const register = op(page, "auth", "register");
    const login = op(page, "auth", "login");
    const profile = op(page, "users", "getProfile");
    for (const [block, path] of [[register, "/register"], [login, "/login"], [profile, "/profile"]] as const) {
      await block.waitFor();
      assert.equal((await block.locator(".opblock-summary-path").first().textContent())?.trim(), path);
    }
    await op(page, "health", "getHealth").waitFor();

    const email = `ui-${randomBytes(6).toString("hex")}@example.com`;
    const password = "correct horse battery";

    const reg = await execute(register, { email, password });
    assert.equal(reg.status, 201, reg.text);
    assert.equal(JSON.parse(reg.text).email, email);

    const log = await execute(login, { email, password });
    assert.equal(log.status, 200, log.text);
    const token: string = JSON.parse(log.text).token;
    assert.ok(token);

    // Without authorizing, the profile is a 401 problem.
    const anon = await execute(profile);
    assert.equal(anon.status, 401, anon.text);

    // Authorize: paste the bearer token into the dialog.
    await page.locator(".scheme-container button.authorize").click();
    const dialog = page.locator(".dialog-ux .modal-ux");
    await dialog.waitFor();
    await dialog.locator(".auth-container input").first().fill(token);
    await dialog.locator(".auth-btn-wrapper button.authorize").click();
    await dialog.locator(".auth-btn-wrapper button.btn-done, button.close-modal").first().click();
    await dialog.waitFor({ state: "detached" });

    const me = await execute(profile);
    assert.equal(me.status, 200, me.text);
    assert.equal(JSON.parse(me.text).email, email);

    // Two screenshots to look at: the top of the page, and the profile call with its 200.
    const top = join(screenshotDir, "keel-docs.png");
    const call = join(screenshotDir, "keel-docs-profile.png");
    await profile.screenshot({ path: call });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: top });
    console.log(`screenshots: ${top} ${call}`);

    // The 401 above logs a failed resource load in the console; anything else
    // (a CSP violation, a script error, a failed asset) is a bug.
    const unexpected = problems.filter((p) => !/status of 401/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
  }
});
