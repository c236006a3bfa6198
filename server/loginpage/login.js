// keel's own sign-in page for the OpenID Provider's login step
// (docs/provider.md). It uses nothing but keel's public API, as an app's own
// page would: GET /oauth2/requests/{id} for what the client asks, POST /login
// or a passkey to sign in, POST /mfa/verify for the second factor, then
// POST /oauth2/requests/{id}/accept (or reject) and the browser goes where
// keel says. It keeps its session in memory only and ends it once the
// request is answered: the grant is a session of its own.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  // keel's API is where this page is, without /oauth2/login: so it works
  // behind a proxy that mounts keel under a path.
  const api = location.pathname.replace(/\/oauth2\/login\/?$/, "");
  const requestID = new URLSearchParams(location.search).get("request_id");
  const scopeText = {
    openid: "Know who you are (your account's id)",
    profile: "See your profile",
    email: "See your email address",
    offline_access: "Stay signed in when you are not using it",
  };

  let token = null; // the page's own session's access token
  let request = null;

  class Problem extends Error {
    constructor(status, body) {
      super((body && (body.detail || body.title)) || "the request failed (" + status + ")");
      this.status = status;
      this.type = body && body.type;
    }
  }

  async function call(method, path, body, bearer) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (bearer) headers.Authorization = "Bearer " + bearer;
    let r;
    try {
      r = await fetch(api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new Problem(0, { detail: "keel cannot be reached; check your connection and try again" });
    }
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!r.ok) throw new Problem(r.status, data);
    return data;
  }

  const say = (msg) => { $("error").textContent = msg; };
  const status = (msg) => { $("status").textContent = msg; };

  // show leaves one form on screen and moves the focus to its first field.
  function show(formID) {
    for (const id of ["password-form", "mfa-form"]) $(id).hidden = id !== formID;
    $("cancel").hidden = formID === null;
    if (formID) {
      const first = $(formID).querySelector("input:not([hidden])");
      if (first) first.focus();
    }
  }

  function busy(on) {
    for (const b of document.querySelectorAll("button")) b.disabled = on;
  }

  // go leaves the page for keel's answer, ending the page's own session
  // first (the grant does not depend on it).
  async function go(to) {
    status("Redirecting…");
    if (token) {
      try { await call("POST", "/logout", undefined, token); } catch (e) { /* it expires anyway */ }
      token = null;
    }
    location.assign(to);
  }

  async function reject(error) {
    const r = await call("POST", "/oauth2/requests/" + encodeURIComponent(requestID) + "/reject", { error });
    await go(r.redirect_to);
  }

  // accept answers the request with the session; keel says what is missing.
  async function accept() {
    try {
      const r = await call("POST", "/oauth2/requests/" + encodeURIComponent(requestID) + "/accept", undefined, token);
      await go(r.redirect_to);
    } catch (e) {
      if (!(e instanceof Problem)) throw e;
      if (e.type === "urn:keel:problem:mfa-required") return secondFactor();
      if (e.type === "urn:keel:problem:reauthentication-required") {
        // A proof made before the client asked: sign in afresh, ending this session.
        try { await call("POST", "/logout", undefined, token); } catch (err) { /* it expires anyway */ }
        token = null;
        show("password-form");
        say("Sign in again to continue.");
        return;
      }
      throw e;
    }
  }

  async function secondFactor() {
    const factors = await call("GET", "/mfa/factors", undefined, token);
    if (!factors.some((f) => f.verified)) {
      show(null);
      $("cancel").hidden = false;
      say(request.client.name + " asks for a second factor, and your account has none. " +
        "Add an authenticator app to your account, then sign in again.");
      return;
    }
    say("");
    $("mfa-why").textContent = (request.acr_values || []).includes("aal2")
      ? request.client.name + " asks for a second factor. Enter the 6-digit code from your authenticator app."
      : "Enter the 6-digit code from your authenticator app.";
    show("mfa-form");
  }

  // handle runs a step with the buttons disabled, and says what went wrong.
  const handle = (fn) => async (ev) => {
    if (ev) ev.preventDefault();
    say("");
    busy(true);
    try {
      await fn();
    } catch (e) {
      say(e instanceof Problem ? e.message : "Something went wrong: " + e.message);
    } finally {
      busy(false);
    }
  };

  // base64url <-> ArrayBuffer: WebAuthn's binary members travel as base64url.
  const toBuf = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4)),
    (c) => c.charCodeAt(0)).buffer;
  const toB64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

  async function passkey() {
    const start = await call("POST", "/passkeys/login/options");
    const o = start.options;
    let got;
    try {
      got = await navigator.credentials.get({ publicKey: {
        ...o,
        challenge: toBuf(o.challenge),
        allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: toBuf(c.id) })),
      } });
    } catch (e) {
      throw new Problem(0, { detail: "No passkey was used (" + e.name + "). Try again, or sign in with your password." });
    }
    const t = await call("POST", "/passkeys/login", { flow_id: start.flow_id, credential: {
      id: got.id, rawId: toB64(got.rawId), type: got.type,
      authenticatorAttachment: got.authenticatorAttachment,
      clientExtensionResults: got.getClientExtensionResults(),
      response: {
        clientDataJSON: toB64(got.response.clientDataJSON),
        authenticatorData: toB64(got.response.authenticatorData),
        signature: toB64(got.response.signature),
        userHandle: got.response.userHandle ? toB64(got.response.userHandle) : null,
      },
    } });
    token = t.token;
    await accept();
  }

  async function start() {
    if (!requestID) {
      say("This page is where apps send you to sign in. Go back to the app and start again.");
      return;
    }
    try {
      request = await call("GET", "/oauth2/requests/" + encodeURIComponent(requestID));
    } catch (e) {
      say(e.status === 404
        ? "This sign-in request expired or was already answered. Go back to the app and start again."
        : e.message);
      return;
    }
    // prompt=none: the page must show nothing, and it holds no session.
    if ((request.prompt || []).includes("none")) {
      await handle(() => reject("login_required"))();
      return;
    }
    document.title = "Sign in to " + request.client.name;
    $("title").textContent = "Sign in to " + request.client.name;
    $("client-name").textContent = request.client.name;
    $("unverified").hidden = !request.client.unverified;
    const list = $("scopes");
    for (const s of request.scopes) {
      const li = document.createElement("li");
      li.textContent = scopeText[s] || s;
      li.dataset.scope = s;
      list.appendChild(li);
    }
    $("scopes-intro").hidden = request.scopes.length === 0;
    $("app").hidden = false;
    $("passkey").hidden = !window.PublicKeyCredential;
    show("password-form");
  }

  $("password-form").addEventListener("submit", handle(async () => {
    const email = $("email").value.trim(), password = $("password").value;
    if (!email || !password) throw new Problem(0, { detail: "Enter your email and your password." });
    const t = await call("POST", "/login", { email, password });
    $("password").value = "";
    token = t.token;
    await accept();
  }));

  $("mfa-form").addEventListener("submit", handle(async () => {
    const recovery = !$("recovery-code").hidden;
    const body = recovery ? { recovery_code: $("recovery-code").value.trim() } : { code: $("code").value.trim() };
    if (!recovery && !/^[0-9]{6}$/.test(body.code)) throw new Problem(0, { detail: "The code is 6 digits." });
    if (recovery && !body.recovery_code) throw new Problem(0, { detail: "Enter a recovery code." });
    const t = await call("POST", "/mfa/verify", body, token);
    $("code").value = $("recovery-code").value = "";
    token = t.token;
    await accept();
  }));

  $("use-recovery").addEventListener("click", () => {
    const recovery = $("recovery-code").hidden; // switching to it
    $("recovery-code").hidden = $("recovery-label").hidden = !recovery;
    $("code").hidden = $("code-label").hidden = recovery;
    $("use-recovery").textContent = recovery ? "Use a code from your app instead" : "Use a recovery code instead";
    $(recovery ? "recovery-code" : "code").focus();
  });

  $("passkey").addEventListener("click", handle(passkey));
  $("cancel").addEventListener("click", handle(() => reject("access_denied")));

  start();
})();
