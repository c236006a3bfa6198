package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserDevicePage drives keel's own device page (the default
// OP_DEVICE_URL) in Chromium: a device gets its codes, the browser opens
// verification_uri_complete, the user signs in, sees which client asks and
// allows it, and the device's next poll gets its tokens. A second device's
// code, denied at the page, gets access_denied.
func TestBrowserDevicePage(t *testing.T) {
	t.Parallel()
	keelBinary(t)
	chromePath := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	f := startFront(t)
	issuer := "http://localhost:" + strings.TrimPrefix(f.URL, "http://127.0.0.1:")
	env := map[string]string{
		"DATABASE_URL": filepath.Join(t.TempDir(), "keel.db"), "JWT_SECRET": testSecret, "KEYS_KEK": testKEK,
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"clients", "create", "--name", "Living-room TV", "--public",
		"--grant", "urn:ietf:params:oauth:grant-type:device_code"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("keel clients create: %v\n%s", err, out.String())
	}
	id := regexp.MustCompile(`(?m)^client_id: +(\S+)$`).FindStringSubmatch(out.String())
	if id == nil {
		t.Fatalf("keel clients create:\n%s", out.String())
	}
	env["API_URL"] = issuer
	env["OP_DEVICE_INTERVAL"] = "1s"
	k := startKeel(t, env)
	f.to(k)
	hc := checkedClient(t, 10*time.Second, nil)
	const email, password = "ada.device@example.com", "correct horse battery"
	if code, body, err := post(ctx, hc, k.url("/register"), creds(email, password)); err != nil || code != http.StatusCreated {
		t.Fatalf("register: %d %v %s", code, err, body)
	}

	form := func(path string, v url.Values) (int, map[string]any) {
		t.Helper()
		res, err := hc.PostForm(k.url(path), v)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, m
	}
	codes := func() (deviceCode, complete string) {
		t.Helper()
		code, m := form("/oauth2/device_authorization", url.Values{"client_id": {id[1]}, "scope": {"openid email"}})
		dc, _ := m["device_code"].(string)
		vc, _ := m["verification_uri_complete"].(string)
		if code != http.StatusOK || dc == "" || !strings.HasPrefix(vc, issuer+"/oauth2/device?user_code=") {
			t.Fatalf("device authorization: %d %v", code, m)
		}
		return dc, vc
	}
	poll := func(dc string) (int, map[string]any) {
		t.Helper()
		time.Sleep(time.Second) // OP_DEVICE_INTERVAL
		return form("/oauth2/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
			"device_code": {dc}, "client_id": {id[1]}})
	}

	bctx, report := newBrowser(ctx, t, chromePath, k)
	steps := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, report())
		}
	}

	dc, complete := codes()
	steps("sign in at the device page",
		chromedp.Navigate(complete),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("approve")),
	)
	name, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("client-name")))
	scopes, err2 := chromedp.Run(bctx, chromedp.Text(chromedp.ID("scopes")))
	if err != nil || err2 != nil || name != "Living-room TV" || !strings.Contains(scopes, "email address") {
		t.Errorf("the page shows client %q, scopes %q (%v, %v)", name, scopes, err, err2)
	}
	// Nothing is answered before the user allows.
	if code, m := poll(dc); code != http.StatusBadRequest || m["error"] != "authorization_pending" {
		t.Errorf("poll before Allow: %d %v", code, m)
	}
	steps("allow", chromedp.Click(chromedp.ID("approve")), chromedp.WaitVisible(chromedp.ID("done")))
	if code, m := poll(dc); code != http.StatusOK || m["access_token"] == nil || m["id_token"] == nil {
		t.Errorf("poll after Allow: %d %v", code, m)
	}

	// A second device, denied: the user types the code at the bare page.
	dc, complete = codes()
	userCode := strings.TrimPrefix(complete, issuer+"/oauth2/device?user_code=")
	steps("deny at the bare page",
		chromedp.Navigate(issuer+"/oauth2/device"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("user-code")),
		chromedp.SendKeys(chromedp.ID("user-code"), strings.ToLower(userCode)),
		chromedp.Click(chromedp.ID("look-up")),
		chromedp.WaitVisible(chromedp.ID("deny")),
		chromedp.Click(chromedp.ID("deny")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if code, m := poll(dc); code != http.StatusBadRequest || m["error"] != "access_denied" {
		t.Errorf("poll after Deny: %d %v", code, m)
	}
}
