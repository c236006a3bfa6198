// End to end: the typed client against a running keel (KEEL_URL, default
// http://127.0.0.1:8080). Run by scripts/e2e-node.sh (`make e2e-node`), which
// starts the server. The @ts-expect-error lines are part of the test: they
// fail `npm run typecheck` if the generated types stop enforcing the spec.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { createKeelClient, type Problem, type RegisterRequest, type Token, type User } from "../src/client.js";

const baseUrl = process.env.KEEL_URL ?? "http://127.0.0.1:8080";

test("register → login → profile through openapi-fetch", async (t) => {
  let token: string | undefined;
  const keel = createKeelClient({ baseUrl, token: () => token });

  const email = `TS-${randomBytes(6).toString("hex")}@Example.com`;
  const password = "correct horse battery";

  await t.test("GET / is healthy", async () => {
    const { data, error, response } = await keel.GET("/");
    assert.equal(response.status, 200);
    assert.equal(error, undefined);
    assert.deepEqual(data, { status: "ok" });
  });

  let user: User | undefined;
  await t.test("POST /register → 201 User", async () => {
    const { data, error, response } = await keel.POST("/register", { body: { email, password } });
    assert.equal(response.status, 201, JSON.stringify(error));
    assert.ok(data);
    user = data;
    assert.equal(typeof user.id, "number");
    assert.ok(user.id >= 1);
    assert.equal(user.email, email.toLowerCase(), "the email is stored lower-cased");
    assert.ok(!Number.isNaN(Date.parse(user.created_at)), `created_at ${user.created_at} is a date-time`);
    assert.deepEqual(Object.keys(user).sort(), ["created_at", "email", "id"], "no password or hash comes back");
  });

  await t.test("POST /register again → 409 problem", async () => {
    const { data, error, response } = await keel.POST("/register", { body: { email: email.toLowerCase(), password } });
    assert.equal(data, undefined);
    assert.equal(response.status, 409);
    assert.match(response.headers.get("content-type") ?? "", /^application\/problem\+json/);
    const problem: Problem | undefined = error;
    assert.equal(problem?.status, 409);
    assert.equal(typeof problem?.title, "string");
  });

  await t.test("POST /register with a bad email → 400 naming the field", async () => {
    const { error, response } = await keel.POST("/register", { body: { email: "ada", password } });
    assert.equal(response.status, 400);
    assert.ok(error?.errors?.some((e) => e.field === "/email"), JSON.stringify(error));
  });

  await t.test("unknown fields: refused by the compiler and by the server", async () => {
    // @ts-expect-error RegisterRequest has additionalProperties: false, so the type has no `admin`.
    const body: RegisterRequest = { email: `x${email}`, password, admin: true };
    const { error, response } = await keel.POST("/register", { body });
    assert.equal(response.status, 400);
    assert.equal(error?.status, 400);
  });

  await t.test("GET /profile without a token → 401", async () => {
    const { error, response } = await keel.GET("/profile");
    assert.equal(response.status, 401);
    assert.equal(error?.status, 401);
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer/);
  });

  await t.test("POST /login with a wrong password → 401", async () => {
    const { data, error, response } = await keel.POST("/login", { body: { email, password: "wrong password" } });
    assert.equal(response.status, 401);
    assert.equal(data, undefined);
    assert.equal(error?.status, 401);
  });

  await t.test("POST /login → 200 Token", async () => {
    const { data, error, response } = await keel.POST("/login", { body: { email, password } });
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.ok(data);
    const tok: Token = data;
    assert.equal(tok.token_type, "Bearer");
    assert.ok(tok.expires_in > 0);
    assert.equal(tok.token.split(".").length, 3, "a JWT has three parts");
    token = tok.token;
  });

  await t.test("GET /profile with the token → 200, the registered user", async () => {
    const { data, error, response } = await keel.GET("/profile");
    assert.equal(response.status, 200, JSON.stringify(error));
    assert.deepEqual(data, user);
  });
});

// Compile-time only: paths and methods the spec does not have do not type-check.
// Never called; `npm run typecheck` fails if one of these starts compiling.
export function typeOnlyChecks(keel: ReturnType<typeof createKeelClient>): void {
  // @ts-expect-error there is no GET /users in the spec.
  void keel.GET("/users");
  // @ts-expect-error /profile has no POST.
  void keel.POST("/profile", {});
  // @ts-expect-error register needs a password.
  void keel.POST("/register", { body: { email: "ada@example.com" } });
}
