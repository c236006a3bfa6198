// Swagger UI in a real browser: load keel's /docs in headless Chromium (the
// system one, CHROMIUM_PATH, default /usr/bin/chromium; playwright-core never
// downloads a browser), check that every operation of the spec is there and that
// exactly the bearer ones carry the lock, then use "Try it out" → "Execute" as a
// user would: register, log in, authorize with the token, and call every
// protected operation (profile, sessions, resend verification, linked identities, passkeys, end one session,
// enrol and confirm a TOTP factor, new recovery codes, raise a second login with
// one (POST /mfa/verify), remove the factor, change the password, refresh and
// re-authorize, log out, log out everywhere,
// delete the account), checking each status.
// Needs a running keel (KEEL_URL); skipped when there is no Chromium, except under CI=true.
// Screenshots go to $SCREENSHOT_DIR (default /tmp).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { chromium, type Locator, type Page } from "playwright-core";

import { mailedToken } from "./mail.js";
import { totp } from "./totp.js";

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

// reveal returns the block of one operation (Swagger UI's id is operations-<tag>-<operationId>),
// in view. From 150 tags and operations on, Swagger UI renders only the part of its list near the
// viewport (a virtualized list), so a block is found by scrolling: down from where the page is,
// then from the top. Visiting operations in the page's order (operations() sorts them so) finds
// each within a step or two.
async function reveal(page: Page, id: string): Promise<Locator> {
  const block = page.locator(`#${id}`);
  for (const fromTop of [false, true]) {
    if (fromTop) await page.evaluate(() => window.scrollTo(0, 0));
    for (let step = 0; step < 400; step++) {
      if ((await block.count()) > 0) {
        await block.scrollIntoViewIfNeeded();
        return block;
      }
      const before = await page.evaluate(() => window.scrollY);
      await page.evaluate(() => window.scrollBy(0, window.innerHeight / 2));
      await page.waitForTimeout(30);
      if ((await page.evaluate(() => window.scrollY)) === before && (await block.count()) === 0) break;
    }
  }
  await block.waitFor(); // not on the page: fails with the locator's own message
  return block;
}

// execute expands an operation, fills its path parameters and JSON body if
// given, presses Execute and returns the live response's status code and body
// text ("" for none). The response of an earlier execution is cleared first, so
// the one read is this execution's.
async function execute(
  block: Locator,
  body?: unknown,
  params: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  if (!(await block.locator(".opblock-body").isVisible())) {
    await block.locator(".opblock-summary").first().click();
  }
  // tryItOutEnabled: true opens it already; once open, the buttons are Cancel (and Reset).
  const tryOut = block.locator("button.try-out__btn:not(.cancel):not(.reset)");
  if ((await tryOut.count()) > 0) {
    await tryOut.click();
  }
  const live = block.locator(".live-responses-table tbody .response").first();
  const clear = block.locator("button.btn-clear");
  if (await clear.isVisible()) {
    await clear.click();
    await live.waitFor({ state: "detached" });
  }
  for (const [name, value] of Object.entries(params)) {
    await block.locator(`tr[data-param-name="${name}"] input`).fill(value);
  }
  if (body !== undefined) {
    await block.locator("textarea.body-param__text").fill(JSON.stringify(body, null, 2));
  }
  await block.locator("button.execute").click();
  await live.waitFor({ timeout });
  const status = Number((await live.locator(".response-col_status").textContent())?.trim());
  // The body's block (absent for a 204); the response headers and duration follow it.
  const pre = live.locator(".response-col_description .highlight-code pre");
  const text = (await pre.count()) > 0 ? ((await pre.first().textContent()) ?? "") : "";
  return { status, text };
}

interface Operation {
  id: string; // #operations-<tag>-<operationId>
  method: string;
  path: string;
  operationId: string;
  bearer: boolean;
  // other: another scheme than bearerAuth (POST /oauth2/register's initial access token).
  other: boolean;
  // admin: the admin API's scheme, adminAuth (docs/admin.md), which has its own form in the dialog.
  admin: boolean;
  tag: string;
  // optional: the bearer token may be sent but need not (security lists {} too, as POST /email/verify
  // does); Swagger UI counts such an operation authorized whatever the dialog holds.
  optional: boolean;
}

// operations reads the spec keel serves and lists each operation, and whether it needs the bearer token.
async function operations(): Promise<Operation[]> {
  const res = await fetch(`${baseUrl}/openapi.json`);
  assert.equal(res.status, 200);
  type Op = { operationId: string; tags?: string[]; security?: Record<string, string[]>[] };
  const spec = (await res.json()) as {
    paths: Record<string, Record<string, Op>>;
    security?: Op["security"];
    tags?: { name: string }[];
  };
  const methods = new Set(["get", "put", "post", "delete", "patch", "head", "options"]);
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, o] of Object.entries(item)) {
      if (!methods.has(method)) continue;
      const security = o.security ?? spec.security ?? [];
      const bearer = security.some((req) => Object.keys(req).includes("bearerAuth"));
      // Another scheme (POST /oauth2/register's initial access token) shows a lock too.
      const admin = security.some((req) => Object.keys(req).includes("adminAuth"));
      const other = !bearer && !admin && security.some((req) => Object.keys(req).length > 0);
      const optional = (bearer || other) && security.some((req) => Object.keys(req).length === 0);
      ops.push({ id: `operations-${o.tags?.[0] ?? "default"}-${o.operationId}`, method, path, operationId: o.operationId, bearer, other, admin, optional, tag: o.tags?.[0] ?? "default" });
    }
  }
  // The page's order: by tag in the order the spec lists its tags, then as in paths (a stable sort).
  const order = new Map((spec.tags ?? []).map((t, i) => [t.name, i]));
  return ops.sort((a, b) => (order.get(a.tag) ?? order.size) - (order.get(b.tag) ?? order.size));
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

    // Every operation of the spec is on the page, and exactly the bearer ones have the lock.
    const ops = await operations();
    const protectedOps = ops.filter((o) => o.bearer);
    assert.ok(protectedOps.length >= 8, `bearer operations: ${protectedOps.map((o) => o.operationId).join(", ")}`);
    const locks = async (state: "locked" | "unlocked") => {
      for (const o of ops) {
        const block = await reveal(page, o.id);
        const path = (await block.locator(".opblock-summary-path").first().getAttribute("data-path")) ?? "";
        assert.equal(path, o.path, o.operationId);
        const lock = block.locator(".opblock-summary .authorization__btn");
        if (o.bearer) {
          // waitFor, not a one-off read: the icon follows the Authorize dialog's state.
          const shown = o.optional ? "locked" : state;
          await lock.and(page.locator(`[aria-label="authorization button ${shown}"]`)).waitFor();
        } else if (o.other) {
          await lock.and(page.locator(`[aria-label="authorization button locked"]`)).waitFor();
        } else if (o.admin) {
          // adminAuth's form stays empty here: bearerAuth's token does not fill it.
          await lock.and(page.locator(`[aria-label="authorization button unlocked"]`)).waitFor();
        } else {
          assert.equal(await lock.count(), 0, `${o.operationId} needs no token, so it has no lock`);
        }
      }
    };
    await locks("unlocked");

    const block = async (operationId: string): Promise<Locator> => {
      const o = ops.find((x) => x.operationId === operationId);
      assert.ok(o, `no operation ${operationId} in the spec`);
      return reveal(page, o.id);
    };
    const executed = new Set<string>();
    const call = async (operationId: string, want: number, body?: unknown, params?: Record<string, string>) => {
      const r = await execute(await block(operationId), body, params);
      assert.equal(r.status, want, `${operationId}: ${r.text}`);
      executed.add(operationId);
      return r.text === "" ? undefined : JSON.parse(r.text);
    };

    // authorize pastes a bearer token into the Authorize dialog, replacing any there.
    const authorize = async (token: string) => {
      await page.locator(".scheme-container button.authorize").click();
      const dialog = page.locator(".dialog-ux .modal-ux");
      await dialog.waitFor();
      // The dialog has a form per scheme: bearerAuth's (POST /oauth2/register has another).
      const form = dialog.locator(".auth-container").filter({ hasText: "bearerAuth" });
      const remove = form.locator('.auth-btn-wrapper button[aria-label="Remove authorization"]');
      if ((await remove.count()) > 0) {
        await remove.click();
      }
      await form.locator("input").first().fill(token);
      await form.locator(".auth-btn-wrapper button.authorize").click();
      await dialog.locator(".auth-btn-wrapper button.btn-done, button.close-modal").first().click();
      await dialog.waitFor({ state: "detached" });
    };

    const email = `ui-${randomBytes(6).toString("hex")}@example.com`;
    const password = "correct horse battery";
    const newPassword = "battery staple horse";

    const user = await call("register", 201, { email, password });
    assert.equal(user.email, email);
    let pair1 = await call("login", 200, { email, password });
    assert.ok(pair1.token && pair1.refresh_token);

    // Without authorizing, the profile is a 401 problem; so is the admin API.
    await call("getProfile", 401);
    await call("adminGetUser", 401, undefined, { id: String(user.id) });

    await authorize(pair1.token);
    await locks("locked");

    const me = await call("getProfile", 200);
    assert.equal(me.email, email);
    assert.equal(me.email_verified, false);
    const profileShot = join(screenshotDir, "keel-docs-profile.png");
    await (await block("getProfile")).screenshot({ path: profileShot });

    const one = await call("listSessions", 200);
    assert.equal(one.length, 1, JSON.stringify(one));
    assert.equal(one[0].current, true);

    assert.deepEqual(await call("resendVerification", 202), { status: "accepted" });
    // The address proved from the page: the mailed token, sent with the session the Authorize
    // dialog holds (POST /email/verify takes the token from the account's own session).
    await call("verifyEmail", 204, { token: await mailedToken(email) });
    assert.equal((await call("getProfile", 200)).email_verified, true);
    // The user's own metadata: PATCH /profile replaces it, GET /profile shows it.
    assert.deepEqual((await call("updateProfile", 200, { user_metadata: { theme: "dark" } })).user_metadata, { theme: "dark" });
    assert.deepEqual((await call("getProfile", 200)).user_metadata, { theme: "dark" });

    // Linked provider accounts: none for a password sign-up. No provider is
    // configured here, so an unknown identity and an unknown provider are 404s.
    assert.deepEqual(await call("listIdentities", 200), []);
    await call("deleteIdentity", 404, undefined, { ref: "999" });
    const link = { redirect_to: "https://app.example.com/linked", code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" };
    await call("linkIdentity", 404, link, { ref: "nosuchprovider" });

    // Passkeys: keel runs with WEBAUTHN_RP_ID=localhost (scripts/e2e-node.sh); Swagger UI
    // cannot run navigator.credentials, so registering gets a 400 for a made-up flow, and an
    // unknown passkey is a 404 to rename or remove (the ceremonies: cmd/keel's TestBrowserPasskey).
    const regOptions = await call("passkeyRegisterOptions", 200);
    assert.ok(regOptions.flow_id && regOptions.options.challenge);
    assert.deepEqual(await call("listPasskeys", 200), []);
    await call("registerPasskey", 400, { flow_id: "nope", name: "laptop", credential: { id: "AAAA" } });
    await call("renamePasskey", 404, { name: "laptop" }, { id: "nope" });
    await call("deletePasskey", 404, undefined, { id: "nope" });

    // The OpenID Provider's user side (docs/provider.md): no consent given yet; an unknown
    // authorization request, consent and device code are 404s (the flows themselves: the
    // openid-client test, server's TestProvider*, cmd/keel's TestBrowserLoginPage).
    assert.deepEqual(await call("listConsents", 200), []);
    await call("withdrawConsent", 404, undefined, { client_id: "kc_q3J7b0hY8kT2nW5xZ1cV9A" });
    await call("getOAuth2Request", 404, undefined, { id: "7HQ2NEXAMPLEJ4O5XK6ZRUFZ2A" });
    await call("acceptOAuth2Request", 404, undefined, { id: "7HQ2NEXAMPLEJ4O5XK6ZRUFZ2A" });
    await call("getDeviceRequest", 404, undefined, { user_code: "BDFG-HJKL" });
    await call("answerDeviceRequest", 404, { user_code: "BDFG-HJKL", approve: false });

    // A second login is a second session; end it from this one.
    await call("login", 200, { email, password });
    const two: { id: string; current: boolean }[] = await call("listSessions", 200);
    assert.equal(two.length, 2, JSON.stringify(two));
    const other = two.find((s) => !s.current);
    assert.ok(other);
    await call("deleteSession", 204, undefined, { id: other.id });
    assert.equal((await call("listSessions", 200)).length, 1);

    // The second factor: enrol, confirm with a code computed from the secret (the
    // session becomes aal2 with a new pair), new recovery codes, a second login
    // raised with one of them, then remove the factor (which needs aal2 and a code).
    const enrolment = await call("enrollTOTP", 201);
    assert.equal((await call("listMFAFactors", 200))[0].verified, false);
    const confirmed = await call("verifyTOTPFactor", 200, { code: totp(enrolment.secret) }, { id: enrolment.id });
    assert.equal(confirmed.recovery_codes.length, 10);
    pair1 = confirmed.tokens; // the refresh token held before is spent
    await authorize(pair1.token);
    const fresh = await call("regenerateRecoveryCodes", 200);
    const aal1 = await call("login", 200, { email, password });
    await authorize(aal1.token);
    const aal2 = await call("verifyMFA", 200, { recovery_code: fresh.recovery_codes[0] });
    await authorize(aal2.token);
    // Removing a factor takes a code from it, or a recovery code.
    await call("deleteMFAFactor", 204, { recovery_code: fresh.recovery_codes[1] }, { id: enrolment.id });
    // Removing the last factor lowered every session of the account: tokens of before (their
    // level generation) get 401, and a refresh gives the session's aal1 pair.
    await authorize(pair1.token);
    await call("getProfile", 401);
    pair1 = await call("refreshToken", 200, { refresh_token: pair1.refresh_token });
    await authorize(pair1.token);

    // A fresh proof of the user (changing the ways in needs one younger than REAUTH_MAX_AGE):
    // the password here; a passkey's needs one registered (400 without).
    await call("reauthenticate", 204, { password });
    await call("reauthenticatePasskeyOptions", 400);

    await call("changePassword", 204, { current_password: password, new_password: newPassword });
    // The user's own activity (GET /profile/activity) shows the change just made.
    const activity: { events: { type: string }[] } = await call("listActivity", 200);
    assert.ok(activity.events.some((e) => e.type === "password.changed"), JSON.stringify(activity.events.map((e) => e.type)));

    // Refresh with the first pair's refresh token, then authorize with the new access token.
    const pair2 = await call("refreshToken", 200, { refresh_token: pair1.refresh_token });
    assert.notEqual(pair2.refresh_token, pair1.refresh_token);
    await authorize(pair2.token);
    assert.equal((await call("getProfile", 200)).email, email);

    // Log out: the authorized token is refused at once.
    await call("logout", 204);
    await call("getProfile", 401);

    // Log in with the new password; "log out everywhere" ends this session too.
    const pair3 = await call("login", 200, { email, password: newPassword });
    await authorize(pair3.token);
    await call("deleteSessions", 204);
    await call("getProfile", 401);

    // Log in again and delete the account: its token and its password stop working.
    const pair4 = await call("login", 200, { email, password: newPassword });
    await authorize(pair4.token);
    await call("deleteProfile", 204, { password: newPassword });
    await call("getProfile", 401);
    await call("login", 401, { email, password: newPassword });

    // Every bearer operation of the spec was executed from the page.
    assert.deepEqual(
      protectedOps.map((o) => o.operationId).filter((id) => !executed.has(id)),
      [],
      "bearer operations not executed from /docs",
    );

    const top = join(screenshotDir, "keel-docs.png");
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: top });
    console.log(`screenshots: ${top} ${profileShot}`);

    // The 400 (a made-up passkey flow), 401s and 404s above log a failed resource
    // load in the console; anything else (a CSP violation, a script error, a failed
    // asset) is a bug.
    const unexpected = problems.filter((p) => !/status of 40[014]/.test(p));
    assert.deepEqual(unexpected, []);
  } finally {
    await browser.close();
  }
});
