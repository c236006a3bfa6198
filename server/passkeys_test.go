package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/passkey"
)

// testRP is what a browser at testPasskeyConfig's origin would sign for.
var testRP = virtualwebauthn.RelyingParty{ID: "example.com", Name: "keel", Origin: "https://app.example.com"}

// device is a software authenticator (virtualwebauthn) holding one passkey.
type device struct {
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

// newDevice is a device with user verification, not backup eligible (a
// security key), changed by opts.
func newDevice(change ...func(*virtualwebauthn.AuthenticatorOptions)) *device {
	var o virtualwebauthn.AuthenticatorOptions
	for _, f := range change {
		f(&o)
	}
	return &device{auth: virtualwebauthn.NewAuthenticatorWithOptions(o), cred: newCredential()}
}

// newCredential is a virtualwebauthn P-256 credential whose public key
// encodes as COSE requires: virtualwebauthn drops the leading zero bytes of
// a coordinate (big.Int.Bytes), which go-webauthn rightly refuses, for one
// key in about 128. A full key's COSE map is 77 bytes.
func newCredential() virtualwebauthn.Credential {
	for {
		if c := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2); len(c.Key.AttestationData()) == 77 {
			return c
		}
	}
}

func noUV(o *virtualwebauthn.AuthenticatorOptions)   { o.UserNotVerified = true }
func synced(o *virtualwebauthn.AuthenticatorOptions) { o.BackupEligible, o.BackupState = true, true }

// passkeyOptions asks path for a ceremony's options.
func (a *testAPI) passkeyOptions(path string, hdr ...string) (oapi.PasskeyOptions, string) {
	a.t.Helper()
	o := decode[oapi.PasskeyOptions](a.t, a.status(a.do("POST", path, "", hdr...), 200, "POST "+path))
	raw, err := json.Marshal(o.Options)
	if err != nil {
		a.t.Fatal(err)
	}
	return o, string(raw)
}

// registration is the body of POST /passkeys/register that answers the
// registration flow (its options raw) with d's new passkey named name,
// signed for rp.
func (a *testAPI) registration(flow, raw, name string, d *device, rp virtualwebauthn.RelyingParty) string {
	a.t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(raw)
	if err != nil {
		a.t.Fatal(err)
	}
	d.auth.Options.UserHandle = []byte(opts.UserID)
	answer := virtualwebauthn.CreateAttestationResponse(rp, d.auth, d.cred, *opts)
	return fmt.Sprintf(`{"flow_id":%q,"name":%q,"credential":%s}`, flow, name, answer)
}

// registerPasskeyAs registers d's passkey for the token's user, signed for rp.
func (a *testAPI) registerPasskeyAs(token string, d *device, rp virtualwebauthn.RelyingParty) *httptest.ResponseRecorder {
	a.t.Helper()
	o, raw := a.passkeyOptions("/passkeys/register/options", bearer(token)...)
	return a.do("POST", "/passkeys/register", a.registration(o.FlowID, raw, "phone", d, rp), bearer(token)...)
}

// mustRegisterPasskey registers d's passkey for the token's user.
func (a *testAPI) mustRegisterPasskey(token string, d *device) oapi.Passkey {
	a.t.Helper()
	return decode[oapi.Passkey](a.t, a.status(a.registerPasskeyAs(token, d, testRP), 201, "POST /passkeys/register"))
}

// loginOptions starts a sign-in and returns its flow and challenge.
func (a *testAPI) loginOptions() (string, virtualwebauthn.AssertionOptions) {
	a.t.Helper()
	o, raw := a.passkeyOptions("/passkeys/login/options")
	opts, err := virtualwebauthn.ParseAssertionOptions(raw)
	if err != nil {
		a.t.Fatal(err)
	}
	return o.FlowID, *opts
}

// finishLogin posts an answer to the sign-in flow.
func (a *testAPI) finishLogin(flow, answer string) *httptest.ResponseRecorder {
	a.t.Helper()
	return a.do("POST", "/passkeys/login", fmt.Sprintf(`{"flow_id":%q,"credential":%s}`, flow, answer))
}

// passkeyLoginAs signs in with d (its counter moved on one), signed for rp.
func (a *testAPI) passkeyLoginAs(d *device, rp virtualwebauthn.RelyingParty) *httptest.ResponseRecorder {
	a.t.Helper()
	flow, opts := a.loginOptions()
	d.cred.Counter++
	return a.finishLogin(flow, virtualwebauthn.CreateAssertionResponse(rp, d.auth, d.cred, opts))
}

// mustPasskeyLogin signs in with d and returns the pair.
func (a *testAPI) mustPasskeyLogin(d *device) oapi.Token {
	a.t.Helper()
	return decode[oapi.Token](a.t, a.status(a.passkeyLoginAs(d, testRP), 200, "POST /passkeys/login"))
}

// assertion is virtualwebauthn's assertion with a chosen client data type,
// signed like a real authenticator would sign it.
func assertion(rp virtualwebauthn.RelyingParty, d *device, challenge []byte, typ string) string {
	b64 := base64.RawURLEncoding.EncodeToString
	clientData, _ := json.Marshal(map[string]string{"type": typ, "challenge": b64(challenge), "origin": rp.Origin})
	rpHash := sha256.Sum256([]byte(rp.ID))
	authData := append(rpHash[:], 0x05) // UP and UV
	authData = binary.BigEndian.AppendUint32(authData, d.cred.Counter)
	cdHash := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(slices.Clone(authData), cdHash[:]...))
	sig, err := d.cred.Key.Sign(digest[:])
	if err != nil {
		panic(err)
	}
	out, _ := json.Marshal(map[string]any{"type": "public-key", "id": b64(d.cred.ID), "rawId": b64(d.cred.ID),
		"response": map[string]string{"authenticatorData": b64(authData), "clientDataJSON": b64(clientData),
			"signature": b64(sig), "userHandle": b64(d.auth.Options.UserHandle)}})
	return string(out)
}

// passkeyAccount registers email with a password and a passkey on a new
// device, and returns the device and an access token of a password login.
func (a *testAPI) passkeyAccount(email string, change ...func(*virtualwebauthn.AuthenticatorOptions)) (*device, string) {
	a.t.Helper()
	a.mustRegister(email, "password123")
	tok := a.mustLogin(email, "password123")
	d := newDevice(change...)
	a.mustRegisterPasskey(tok, d)
	return d, tok
}

// TestPasskeyRegisterAndSignIn: a signed-in user registers a passkey (a
// discoverable credential, UV preferred, no attestation, their passkeys
// excluded), then signs in with it and nothing else: aal2, amr hwk user mfa.
func TestPasskeyRegisterAndSignIn(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")

	o, _ := a.passkeyOptions("/passkeys/register/options", bearer(tok)...)
	sel, _ := o.Options["authenticatorSelection"].(map[string]any)
	if sel["residentKey"] != "required" || sel["userVerification"] != "preferred" || o.Options["attestation"] != "none" {
		t.Errorf("creation options: authenticatorSelection %v attestation %v, want a resident key required, UV preferred, no attestation", sel, o.Options["attestation"])
	}
	if rp, _ := o.Options["rp"].(map[string]any); rp["id"] != "example.com" {
		t.Errorf("creation options rp %v, want id example.com", rp)
	}
	challenge, _ := base64.RawURLEncoding.DecodeString(fmt.Sprint(o.Options["challenge"]))
	if len(challenge) < 16 {
		t.Errorf("challenge of %d bytes, want at least 16", len(challenge))
	}

	d := newDevice()
	p := a.mustRegisterPasskey(tok, d)
	if p.Name != "phone" || p.BackupEligible || p.BackedUp || p.LastUsedAt != nil {
		t.Errorf("registered passkey %+v", p)
	}
	_, raw := a.passkeyOptions("/passkeys/register/options", bearer(tok)...)
	opts, err := virtualwebauthn.ParseAttestationOptions(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(opts.ExcludeCredentials, []string{base64.RawURLEncoding.EncodeToString(d.cred.ID)}) {
		t.Errorf("excludeCredentials %v, want the registered passkey", opts.ExcludeCredentials)
	}

	_, lraw := a.passkeyOptions("/passkeys/login/options")
	var lo map[string]any
	_ = json.Unmarshal([]byte(lraw), &lo)
	if lo["allowCredentials"] != nil || lo["rpId"] != "example.com" || lo["userVerification"] != "preferred" {
		t.Errorf("request options %v, want discoverable (no allowCredentials), rpId example.com, UV preferred", lo)
	}

	pair := a.mustPasskeyLogin(d)
	wantClaims(t, pair.Token, "aal2", "hwk", "user", "mfa")
	if code := a.profileStatus(pair.Token); code != 200 {
		t.Errorf("GET /profile with the passkey's token: %d", code)
	}
	// The refresh token keeps the level.
	refreshed := decode[oapi.Token](t, a.status(a.refresh(pair.RefreshToken), 200, "refresh"))
	wantClaims(t, refreshed.Token, "aal2", "hwk", "user", "mfa")

	list := decode[[]oapi.Passkey](t, a.status(a.do("GET", "/passkeys", "", bearer(tok)...), 200, "GET /passkeys"))
	if len(list) != 1 || list[0].ID != p.ID || list[0].LastUsedAt == nil {
		t.Errorf("GET /passkeys after a sign-in: %+v", list)
	}
	renamed := decode[oapi.Passkey](t, a.status(a.do("PATCH", "/passkeys/"+p.ID, jsonBody("name", "yubikey"), bearer(tok)...), 200, "PATCH"))
	if renamed.Name != "yubikey" {
		t.Errorf("renamed: %+v", renamed)
	}
	a.status(a.do("PATCH", "/passkeys/nope", jsonBody("name", "x"), bearer(tok)...), 404, "PATCH another's")
	a.status(a.do("DELETE", "/passkeys/nope", "", bearer(tok)...), 404, "DELETE unknown")
}

// TestPasskeyLevels: with the user verified a passkey sign-in is aal2 (amr
// swk for a synced passkey, hwk otherwise), without it aal1; a passkey
// sign-in at aal1 of an account with a TOTP factor meets the assurance gate,
// and registering a passkey needs aal2 when the account has a factor.
func TestPasskeyLevels(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)

	d, _ := a.passkeyAccount("nouv@example.com", noUV)
	wantClaims(t, a.mustPasskeyLogin(d).Token, "aal1", "hwk")

	s, _ := a.passkeyAccount("synced@example.com", synced)
	wantClaims(t, a.mustPasskeyLogin(s).Token, "aal2", "swk", "user", "mfa")
	s.auth.Options.UserNotVerified = true
	wantClaims(t, a.mustPasskeyLogin(s).Token, "aal1", "swk")

	secret, _, pair := a.mfaAccount("mfa@example.com")
	aal1 := a.mustLogin("mfa@example.com", "password123")
	wantMFARequired(t, a.do("POST", "/passkeys/register/options", "", bearer(aal1)...), "registration options at aal1 with a factor")
	m := newDevice()
	a.mustRegisterPasskey(pair.Token, m) // aal2
	if code := a.profileStatus(a.mustPasskeyLogin(m).Token); code != 200 {
		t.Errorf("GET /profile after a UV passkey sign-in of an account with a factor: %d, want 200", code)
	}
	m.auth.Options.UserNotVerified = true
	low := a.mustPasskeyLogin(m)
	wantClaims(t, low.Token, "aal1", "hwk")
	wantMFARequired(t, a.do("GET", "/profile", "", bearer(low.Token)...), "a passkey sign-in without UV, with a factor")
	// The second factor raises the session as for a password sign-in.
	a.status(a.do("GET", "/mfa/factors", "", bearer(low.Token)...), 200, "GET /mfa/factors at aal1")
	up := decode[oapi.Token](t, a.status(a.mfaVerify(low.Token, "code", codeAt(t, secret, a.clock.Now().Add(30*time.Second))), 200, "POST /mfa/verify"))
	wantClaims(t, up.Token, "aal2", "hwk", "otp", "mfa")
}

// TestPasskeyRefusals: each check of the ceremonies refuses an answer that
// breaks it, and the refusal starts no session.
func TestPasskeyRefusals(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	d, tok := a.passkeyAccount("ada@example.com")
	other := func(change func(*virtualwebauthn.RelyingParty)) virtualwebauthn.RelyingParty {
		rp := testRP
		change(&rp)
		return rp
	}

	t.Run("wrong origin", func(t *testing.T) {
		evil := other(func(rp *virtualwebauthn.RelyingParty) { rp.Origin = "https://evil.example.net" })
		a.status(a.passkeyLoginAs(d, evil), 401, "sign-in from another origin")
		a.status(a.registerPasskeyAs(tok, newDevice(), evil), 400, "registration from another origin")
	})
	t.Run("wrong RP ID hash", func(t *testing.T) {
		evil := other(func(rp *virtualwebauthn.RelyingParty) { rp.ID = "evil.example.net" })
		a.status(a.passkeyLoginAs(d, evil), 401, "sign-in for another RP ID")
		a.status(a.registerPasskeyAs(tok, newDevice(), evil), 400, "registration for another RP ID")
	})
	t.Run("wrong type", func(t *testing.T) {
		flow, opts := a.loginOptions()
		d.cred.Counter++
		a.status(a.finishLogin(flow, assertion(testRP, d, opts.Challenge, "webauthn.create")), 401, "an assertion typed webauthn.create")
		flow, opts = a.loginOptions()
		d.cred.Counter++
		a.status(a.finishLogin(flow, assertion(testRP, d, opts.Challenge, "webauthn.get")), 200, "the same, typed webauthn.get")
	})
	t.Run("wrong challenge", func(t *testing.T) {
		flow, _ := a.loginOptions()
		_, opts := a.loginOptions()
		d.cred.Counter++
		a.status(a.finishLogin(flow, virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, opts)), 401, "another flow's challenge")
	})
	t.Run("unknown, reused and expired flows", func(t *testing.T) {
		_, opts := a.loginOptions()
		d.cred.Counter++
		answer := virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, opts)
		a.status(a.finishLogin("not-a-flow", answer), 400, "an unknown flow")

		flow, opts := a.loginOptions()
		d.cred.Counter++
		a.status(a.finishLogin(flow, virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, opts)), 200, "first use")
		d.cred.Counter++
		rec := a.status(a.finishLogin(flow, virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, opts)), 400, "the flow again")
		if p := problemOf(t, rec); p.Errors == nil || len(*p.Errors) == 0 || (*p.Errors)[0].Field != "/flow_id" {
			t.Errorf("reused flow: %+v, want a /flow_id error", p)
		}

		flow, opts = a.loginOptions()
		a.clock.Add(passkey.TTL)
		d.cred.Counter++
		a.status(a.finishLogin(flow, virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, opts)), 400, "a flow five minutes old")

		// A registration's flow does not finish a sign-in.
		reg, _ := a.passkeyOptions("/passkeys/register/options", bearer(a.mustLogin("ada@example.com", "password123"))...)
		d.cred.Counter++
		a.status(a.finishLogin(reg.FlowID, virtualwebauthn.CreateAssertionResponse(testRP, d.auth, d.cred, opts)), 400, "a registration flow at sign-in")
	})
	t.Run("another user's registration flow", func(t *testing.T) {
		a.mustRegister("eve@example.com", "password123")
		eve := a.mustLogin("eve@example.com", "password123")
		o, raw := a.passkeyOptions("/passkeys/register/options", bearer(tok)...)
		opts, _ := virtualwebauthn.ParseAttestationOptions(raw)
		n := newDevice()
		answer := virtualwebauthn.CreateAttestationResponse(testRP, n.auth, n.cred, *opts)
		a.status(a.do("POST", "/passkeys/register", fmt.Sprintf(`{"flow_id":%q,"name":"x","credential":%s}`, o.FlowID, answer), bearer(eve)...), 400, "Eve finishing Ada's flow")
	})
	t.Run("sign count backwards", func(t *testing.T) {
		d.cred.Counter += 10
		a.mustPasskeyLogin(d)
		d.cred.Counter -= 5
		a.status(a.passkeyLoginAs(d, testRP), 401, "a counter that went backwards")
		if !strings.Contains(a.logs.String(), `"level":"WARN","msg":"passkey refused: its signature counter went backwards`) {
			t.Errorf("no warning for the counter in the log:\n%s", a.logs)
		}
		d.cred.Counter += 10
		a.mustPasskeyLogin(d)
		// An authenticator that counts nothing (0 and 0) keeps working.
		z, _ := a.passkeyAccount("zero@example.com")
		for range 2 {
			flow, opts := a.loginOptions()
			a.status(a.finishLogin(flow, virtualwebauthn.CreateAssertionResponse(testRP, z.auth, z.cred, opts)), 200, "a counter of 0, again")
		}
	})
	t.Run("backup eligible flag changed", func(t *testing.T) {
		b, _ := a.passkeyAccount("be@example.com")
		b.auth.Options.BackupEligible = true
		a.status(a.passkeyLoginAs(b, testRP), 401, "BE set after a registration without it")
	})
	t.Run("credential of another user", func(t *testing.T) {
		a.mustRegister("mallory@example.com", "password123")
		mal := a.mustLogin("mallory@example.com", "password123")
		stolen := &device{auth: d.auth, cred: d.cred}
		a.status(a.registerPasskeyAs(mal, stolen, testRP), 409, "Ada's credential id registered by Mallory")
		a.status(a.registerPasskeyAs(tok, &device{auth: d.auth, cred: d.cred}, testRP), 409, "Ada's credential again")
	})
	t.Run("removed passkey", func(t *testing.T) {
		r, rtok := a.passkeyAccount("removed@example.com")
		list := decode[[]oapi.Passkey](t, a.do("GET", "/passkeys", "", bearer(rtok)...))
		a.status(a.do("DELETE", "/passkeys/"+list[0].ID, "", bearer(rtok)...), 204, "DELETE the passkey")
		a.status(a.passkeyLoginAs(r, testRP), 401, "a removed passkey")
	})
	t.Run("deleted account", func(t *testing.T) {
		g, gtok := a.passkeyAccount("gone@example.com")
		a.status(a.do("DELETE", "/profile", jsonBody("password", "password123"), bearer(gtok)...), 204, "DELETE /profile")
		a.status(a.passkeyLoginAs(g, testRP), 401, "the passkey of a deleted account")
	})
}

// TestPasskeyBackupFlags: the BE and BS flags are stored at registration and
// BS is updated at each sign-in, so a passkey that a password manager syncs
// later (BS 0, then 1) keeps signing in (Supabase's supabase/auth#2732).
func TestPasskeyBackupFlags(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	d, tok := a.passkeyAccount("ada@example.com", func(o *virtualwebauthn.AuthenticatorOptions) { o.BackupEligible = true })
	flags := func() (bool, bool) {
		list := decode[[]oapi.Passkey](t, a.do("GET", "/passkeys", "", bearer(tok)...))
		return list[0].BackupEligible, list[0].BackedUp
	}
	if be, bs := flags(); !be || bs {
		t.Errorf("after registration: BE %v BS %v, want true false", be, bs)
	}
	a.mustPasskeyLogin(d)
	d.auth.Options.BackupState = true // synced since
	wantClaims(t, a.mustPasskeyLogin(d).Token, "aal2", "swk", "user", "mfa")
	if be, bs := flags(); !be || !bs {
		t.Errorf("after a synced sign-in: BE %v BS %v, want true true", be, bs)
	}
	a.mustPasskeyLogin(d) // the second sign-in after the sync, too
	stored, err := a.store.GetPasskeyByCredential(context.Background(), d.cred.ID)
	if err != nil || !stored.BackupState || stored.SignCount != int64(d.cred.Counter) {
		t.Errorf("stored passkey %+v (%v), want BS and the count %d", stored, err, d.cred.Counter)
	}
}

// TestPasskeyLastWayIn: a passkey is a way in: the last one of an account
// with no password and no identity cannot be removed (409), any other can.
func TestPasskeyLastWayIn(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	ctx := context.Background()
	u, err := a.store.CreateUser(ctx, "nopass@example.com", "", a.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	a.mustVerifyEmail(oapi.User{ID: u.ID, Email: u.Email}) // a passkey needs a proved address
	first := newDevice()
	first.auth.Options.UserHandle = passkey.LegacyHandle(u.ID) // registered before handles were random
	now := a.clock.Now()
	registrar := db.Session{ID: "registrar", UserID: u.ID, CreatedAt: now, LastUsedAt: now,
		Generation: 1, RefreshHash: "registrar", RotatedAt: now, RefreshExpiresAt: now.Add(time.Hour)}
	if err := a.store.CreateSession(ctx, registrar); err != nil {
		t.Fatal(err)
	}
	if err := a.store.CreatePasskey(ctx, db.Passkey{ID: "first", UserID: u.ID, Name: "first", CredentialID: first.cred.ID,
		PublicKey: first.cred.Key.AttestationData(), AttestationType: "none", AAGUID: first.auth.Aaguid[:],
		UserVerified: true, CreatedAt: now}, registrar.ID, nil); err != nil {
		t.Fatal(err)
	}
	tok := a.mustPasskeyLogin(first).Token
	secondDevice := newDevice()
	second := a.mustRegisterPasskey(tok, secondDevice)
	a.status(a.do("DELETE", "/passkeys/first", "", bearer(tok)...), 204, "DELETE one of two passkeys")
	// The session the removed passkey started ended with it (TestRemovalEndsSessions).
	a.status(a.do("GET", "/passkeys", "", bearer(tok)...), 401, "the removed passkey's session")
	tok = a.mustPasskeyLogin(secondDevice).Token
	rec := a.status(a.do("DELETE", "/passkeys/"+second.ID, "", bearer(tok)...), 409, "DELETE the last way in")
	if p := problemOf(t, rec); p.Detail == nil || !strings.Contains(*p.Detail, "last way to sign in") {
		t.Errorf("409: %+v", p)
	}
	if n := len(decode[[]oapi.Passkey](t, a.do("GET", "/passkeys", "", bearer(tok)...))); n != 1 {
		t.Errorf("%d passkeys after the refused delete, want 1", n)
	}
}

// TestPasskeysOff: without WEBAUTHN_RP_ID the ceremonies answer 404.
func TestPasskeysOff(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.srv.passkeys = nil
	a.status(a.do("POST", "/passkeys/login/options", ""), 404, "login options")
	a.status(a.do("POST", "/passkeys/login", `{"flow_id":"x","credential":{"id":"x"}}`), 404, "login")
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	a.status(a.do("POST", "/passkeys/register/options", "", bearer(tok)...), 404, "register options")
	a.status(a.do("GET", "/passkeys", "", bearer(tok)...), 200, "list")
}
