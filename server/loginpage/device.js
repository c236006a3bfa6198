// keel's own page for the device grant (RFC 8628; docs/provider.md): the
// default OP_DEVICE_URL. It uses nothing but keel's public API, as an app's
// own page would: POST /login (and POST /mfa/verify when the account has a
// second factor), GET /oauth2/device/request to show which client asks for
// what, POST /oauth2/device/request to allow or deny. It never allows on
// opening, even with ?user_code= (a link is not consent), keeps its session
// in memory only and ends it once the code is answered: the grant is a
// session of its own.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const api = location.pathname.replace(/\/oauth2\/device\/?$/, "");
  const scopeText = {
    openid: "Know who you are (your account's id)",
    profile: "See your profile",
    email: "See your email address",
    offline_access: "Stay signed in when you are not using it",
  };
  let token = null;
  let userCode = "";

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

  // show leaves one step on screen and moves the focus into it.
  function show(id) {
    for (const s of ["password-form", "mfa-form", "code-form", "ask", "done"]) $(s).hidden = s !== id;
    const first = id && $(id).querySelector("input, button");
    if (first) first.focus();
  }

  const handle = (fn) => async (ev) => {
    if (ev) ev.preventDefault();
    say("");
    for (const b of document.querySelectorAll("button")) b.disabled = true;
    try {
      await fn();
    } catch (e) {
      say(e instanceof Problem ? e.message : "Something went wrong: " + e.message);
    } finally {
      for (const b of document.querySelectorAll("button")) b.disabled = false;
    }
  };

  // lookUp shows which client asks with the code; keel says what is missing.
  async function lookUp() {
    let req;
    try {
      req = await call("GET", "/oauth2/device/request?user_code=" + encodeURIComponent(userCode), undefined, token);
    } catch (e) {
      if (e.type === "urn:keel:problem:mfa-required") return show("mfa-form");
      if (e.status === 404) {
        show("code-form");
        throw new Problem(404, { detail: "No device waits with this code: check it on your device (it may have expired or been used)." });
      }
      throw e;
    }
    $("client-name").textContent = req.client.name;
    $("unverified").hidden = !req.client.unverified;
    const list = $("scopes");
    list.textContent = "";
    for (const s of req.scopes) {
      const li = document.createElement("li");
      li.textContent = scopeText[s] || s;
      li.dataset.scope = s;
      list.appendChild(li);
    }
    $("scopes-intro").hidden = req.scopes.length === 0;
    show("ask");
  }

  async function answer(approve) {
    await call("POST", "/oauth2/device/request", { user_code: userCode, approve }, token);
    try { await call("POST", "/logout", undefined, token); } catch (e) { /* it expires anyway */ }
    token = null;
    $("done").textContent = approve
      ? "Done: the device is connected. You can close this page and return to it."
      : "Denied: the device gets no access. You can close this page.";
    show("done");
  }

  $("password-form").addEventListener("submit", handle(async () => {
    const email = $("email").value.trim(), password = $("password").value;
    if (!email || !password) throw new Problem(0, { detail: "Enter your email and your password." });
    const t = await call("POST", "/login", { email, password });
    $("password").value = "";
    token = t.token;
    if (userCode) return lookUp();
    show("code-form");
  }));

  $("mfa-form").addEventListener("submit", handle(async () => {
    const v = $("code").value.trim();
    const t = await call("POST", "/mfa/verify", /^[0-9]{6}$/.test(v) ? { code: v } : { recovery_code: v }, token);
    $("code").value = "";
    token = t.token;
    if (userCode) return lookUp();
    show("code-form");
  }));

  $("code-form").addEventListener("submit", handle(async () => {
    userCode = $("user-code").value.trim();
    if (!userCode) throw new Problem(0, { detail: "Enter the code your device shows." });
    await lookUp();
  }));

  $("approve").addEventListener("click", handle(() => answer(true)));
  $("deny").addEventListener("click", handle(() => answer(false)));

  userCode = (new URLSearchParams(location.search).get("user_code") || "").trim();
  $("user-code").value = userCode;
  show("password-form");
})();
