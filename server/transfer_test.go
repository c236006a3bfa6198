package server

// keel users export and import (internal/transfer) seen from the API, on
// both engines: what comes in signs in as it did.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/transfer"
)

// testTripKey is a --totp-key-file's content.
var testTripKey = []byte("trip-key-0123456789abcdef0123456789abcdef\n")

// importInto imports file into a's store with a's TOTP keys.
func (a *testAPI) importInto(file string, change ...func(*transfer.ImportOptions)) transfer.Report {
	a.t.Helper()
	trip, err := transfer.ExportKey(testTripKey)
	if err != nil {
		a.t.Fatal(err)
	}
	opts := transfer.ImportOptions{Keys: a.srv.mfa, TripKey: trip, Caps: password.DefaultCaps, Now: a.clock.Now}
	for _, f := range change {
		f(&opts)
	}
	rep, err := transfer.Import(context.Background(), a.store, strings.NewReader(file), opts)
	if err != nil {
		a.t.Fatal(err)
	}
	return rep
}

// profileID is the id GET /profile gives the token's user.
func (a *testAPI) profileID(token string) int64 {
	a.t.Helper()
	return decode[oapi.User](a.t, a.status(a.do("GET", "/profile", "", bearer(token)...), 200, "GET /profile")).ID
}

// TestUsersRoundTrip: export → a new, empty keel under another MFA key →
// import: every account keeps its id (a gap left by a deleted account
// too) and signs in with the same password; the passkey signs in
// (discoverable: its user handle came along); the TOTP factor, opened with
// the trip key and sealed under the new keel's, takes the authenticator's
// codes; an unverified account comes in with its password only (the
// ways-in rule); a new registration gets an id after the imported ones.
func TestUsersRoundTrip(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	gone := a.mustRegister("gone@example.com", "password123")
	plain := a.mustRegister("plain@example.com", "password123")
	dev, _ := a.passkeyAccount("passkey@example.com")
	secret, _, _ := a.mfaAccount("mfa@example.com")
	// An unverified account with a passkey, as another system may have
	// one (keel itself adds none before the address is proved): the file
	// carries the passkey, the import leaves it out.
	a.passkeyAccount("unverified@example.com")
	a.db.exec(t, "UPDATE users SET email_verified = FALSE WHERE email = 'unverified@example.com'")
	if err := a.store.DeleteUser(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, email := range []string{"plain@example.com", "passkey@example.com", "mfa@example.com", "unverified@example.com"} {
		c, err := a.store.GetCredentials(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		ids[email] = c.UserID
	}
	if ids["plain@example.com"] != plain.ID {
		t.Fatalf("ids %v", ids)
	}

	trip, err := transfer.ExportKey(testTripKey)
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	sum, err := transfer.Export(context.Background(), a.store, &file, a.srv.mfa, trip)
	if err != nil || sum.Accounts != 4 || sum.TOTPOmitted != 0 {
		t.Fatalf("export: %+v, %v", sum, err)
	}
	if strings.Contains(file.String(), secret) {
		t.Error("the export holds a TOTP secret in the clear")
	}

	otherKey, err := mfa.New([]byte("another-mfa-key-0123456789abcdef0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	b := buildTestAPI(t, testPasswords(), nil, func(d *Deps) { d.MFA = otherKey })
	rep := b.importInto(file.String())
	if !rep.KeptIDs || rep.Created != 4 || rep.Existing != 0 || len(rep.Failed) != 0 {
		t.Fatalf("import: %+v", rep)
	}
	if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0].Error(), "imported without its 1 passkeys") {
		t.Errorf("notes %v, want the unverified account's passkey left out", rep.Notes)
	}
	for email, id := range ids {
		tok := b.mustLogin(email, "password123")
		if email == "mfa@example.com" {
			continue // aal1 until its code, below
		}
		if got := b.profileID(tok); got != id {
			t.Errorf("%s signs in as %d, want its id %d", email, got, id)
		}
	}
	// The passkey: a discoverable sign-in, the account found by its handle.
	pk := b.mustPasskeyLogin(dev)
	if got := b.profileID(pk.Token); got != ids["passkey@example.com"] {
		t.Errorf("the passkey signs in as %d, want %d", got, ids["passkey@example.com"])
	}
	// The unverified account's passkey did not come: it signs nobody in.
	if keys, _ := b.store.ListPasskeys(context.Background(), ids["unverified@example.com"]); len(keys) != 0 {
		t.Errorf("the unverified account came in with %d passkeys", len(keys))
	}
	// The TOTP factor: aal1 until a code of the same secret.
	tok := b.mustLogin("mfa@example.com", "password123")
	b.clock.Add(mfa.Period) // a step the export's verification did not take
	rec := b.status(b.mfaVerify(tok, "code", codeAt(t, secret, b.clock.Now())), 200, "POST /mfa/verify after the import")
	if got := b.profileID(decode[oapi.Token](t, rec).Token); got != ids["mfa@example.com"] {
		t.Errorf("the factor's account is %d, want %d", got, ids["mfa@example.com"])
	}
	// A new account after them, on either engine (PostgreSQL's identity
	// sequence moved past the kept ids).
	if u := b.mustRegister("new@example.com", "password123"); u.ID <= ids["unverified@example.com"] {
		t.Errorf("a new account got id %d, not after the imported ones", u.ID)
	}
}

// foreignVector is a hash from internal/password/testdata: made by its
// format's own reference implementation, never by keel.
type foreignVector struct {
	Format, Password, Hash string
}

func foreignVectors(t *testing.T) []foreignVector {
	t.Helper()
	b, err := os.ReadFile("../internal/password/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []foreignVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestImportForeignHashes: an account imported with another system's hash
// (bcrypt $2a$/$2b$/$2y$, argon2id, argon2i, Django pbkdf2_sha256,
// Firebase scrypt with its project's parameters) signs in with its old
// password; a wrong one is 401 (tried once per format); the first success
// replaces the hash with keel's bcrypt, and the password still signs in
// after it.
func TestImportForeignHashes(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	type account struct{ email, password, format string }
	var lines []string
	var accounts []account
	for i, v := range foreignVectors(t) {
		email := fmt.Sprintf("u%d@example.com", i)
		line, _ := json.Marshal(map[string]any{"email": email, "email_verified": true, "password_hash": v.Hash, "external_id": "ext-" + email})
		lines = append(lines, string(line))
		accounts = append(accounts, account{email, v.Password, v.Format})
	}
	fb, err := os.ReadFile("../internal/password/testdata/firebase.json")
	if err != nil {
		t.Fatal(err)
	}
	var firebase struct {
		Project struct {
			SignerKey, SaltSeparator string
			Rounds, MemCost          int
		}
		Users []struct{ Password, Salt, Hash string }
	}
	if err := json.Unmarshal(fb, &firebase); err != nil {
		t.Fatal(err)
	}
	for i, u := range firebase.Users {
		email := fmt.Sprintf("firebase%d@example.com", i)
		line, _ := json.Marshal(map[string]any{"email": email, "email_verified": true, "password_hash": u.Hash, "password_salt": u.Salt})
		lines = append(lines, string(line))
		accounts = append(accounts, account{email, u.Password, "firebase-scrypt"})
	}
	key, _ := transfer.DecodeBase64(firebase.Project.SignerKey)
	sep, _ := transfer.DecodeBase64(firebase.Project.SaltSeparator)
	rep := a.importInto(strings.Join(lines, "\n")+"\n", func(o *transfer.ImportOptions) {
		o.Firebase = &password.FirebaseProject{SignerKey: key, SaltSeparator: sep, Rounds: firebase.Project.Rounds, MemCost: firebase.Project.MemCost}
	})
	if rep.Created != len(accounts) || len(rep.Failed) != 0 {
		t.Fatalf("import: %+v", rep)
	}
	wrongTried := map[string]bool{}
	for _, acc := range accounts {
		t.Run(acc.format+"/"+acc.email, func(t *testing.T) {
			// A wrong password once per format: the costlier vectors take
			// half a second each under -race, and the password package
			// tries a wrong one against every vector.
			if !wrongTried[acc.format] {
				wrongTried[acc.format] = true
				a.status(a.do("POST", "/login", credentials(acc.email, acc.password+"!")), 401, "a wrong password")
			}
			before, err := a.store.GetCredentials(context.Background(), acc.email)
			if err != nil {
				t.Fatal(err)
			}
			a.mustLogin(acc.email, acc.password)
			after, err := a.store.GetCredentials(context.Background(), acc.email)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case acc.format == "bcrypt" && after.PasswordHash != before.PasswordHash:
				t.Errorf("a bcrypt hash (keel's own scheme) was replaced")
			case acc.format != "bcrypt" && !strings.HasPrefix(after.PasswordHash, "$2a$"):
				t.Errorf("after the first sign-in the hash is %.12s…, want keel's bcrypt", after.PasswordHash)
			}
			a.mustLogin(acc.email, acc.password)
		})
	}
}

// TestImportLines: each bad line is refused with its line number and
// imports nothing of itself (no account, no event), while the lines around
// it go in; a cost over a cap is refused per line; a second import of the
// same file changes nothing (idempotent on external_id); a line without
// external_id whose email is taken is refused; Firebase lines without the
// project's parameters are refused; ids are not kept in a keel that had
// accounts.
func TestImportLines(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	existing := a.mustRegister("taken@example.com", "password123")
	vs := foreignVectors(t)
	argon2 := vs[3].Hash
	overCap := strings.Replace(argon2, "m=19456", "m=262145", 1)
	file := strings.Join([]string{
		`{"email":"one@example.com","email_verified":true,"password_hash":"` + vs[0].Hash + `","external_id":"e1","app_metadata":{"plan":"pro"},"id":500}`,
		`{"email":"two@example.com","email_verified":true,"password_hash":"` + overCap + `","external_id":"e2"}`,
		`not json`,
		``,
		`{"email":"three@example.com","email_verified":false,"password_hash":"` + argon2 + `","external_id":"e3"}`,
		`{"email":"taken@example.com","email_verified":true,"password_hash":"` + argon2 + `"}`,
		`{"email":"four@example.com","pasword_hash":"typo"}`,
		`{"email":"five@example.com","password_hash":"md5$x"}`,
		`{"email":"six@example.com","password_hash":"aGFzaA==","password_salt":"c2FsdA=="}`,
		`{"email":"seven@example.com","app_metadata":["not","an","object"]}`,
		`{"email":"not an email"}`,
		`{"email":"eight@example.com","email_verified":true,"totp":[{"id":"f","secret":"AAAA","last_step":0}]}`,
		`{"email":"nine@example.com","email_verified":true,"passkeys":[{"credential_id":"AQID","public_key":"AQID","sign_count":0,"user_verified":true,"backup_eligible":false,"backup_state":false}]}`,
		// PBKDF2 works its iterations for each 32 bytes of key: 1024 bytes
		// at the cap held a worker 16 s a sign-in.
		`{"email":"ten@example.com","password_hash":"pbkdf2_sha256$2000000$salt$` + base64.StdEncoding.EncodeToString(make([]byte, 1024)) + `"}`,
		// PostgreSQL's text holds no NUL: each was the import's end there,
		// its batch rolled back.
		`{"email":"eleven@example.com","external_id":"e\u0000"}`,
		`{"email":"twelve@example.com","email_verified":true,"identities":[{"provider":"google","subject":"1\u00002"}]}`,
		`{"email":"thirteen@example.com","email_verified":true,"passkey_user_handle":"AQID","passkeys":[{"credential_id":"AQIDBA","public_key":"AQID","name":"\u0000"}]}`,
		`{"email":"fourteen@example.com","email_verified":true,"passkey_user_handle":"AQIE","passkeys":[{"credential_id":"AQIDBQ","public_key":"AQID","transports":["usb\u0000"]}]}`,
		`{"email":"fifteen@example.com","password_hash":"pbkdf2_sha256$1000$sa\u0000lt$` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}`,
		`{"email":"sixteen@example.com","password_hash":"$2a$04$\u0000` + strings.Repeat("a", 52) + `"}`,
		// Times JSON cannot carry (years 10000 and -1 in UTC) made GET
		// /profile and GET /admin/users 500s.
		`{"email":"seventeen@example.com","created_at":"9999-12-31T23:59:59-23:59"}`,
		`{"email":"eighteen@example.com","email_verified":true,"passkey_user_handle":"AQIF","passkeys":[{"credential_id":"AQIDBg","public_key":"AQID","last_used_at":"0000-01-01T00:00:00+00:01"}]}`,
		// A passkey's name as the API takes one (display-name, 64
		// characters): it is shown to the user and to admins.
		`{"email":"nineteen@example.com","email_verified":true,"passkey_user_handle":"AQIH","passkeys":[{"credential_id":"AQIDBw","public_key":"AQID","name":"\u202egnp.exe"}]}`,
		`{"email":"twenty@example.com","email_verified":true,"passkey_user_handle":"AQII","passkeys":[{"credential_id":"AQIDCA","public_key":"AQID","name":"` + strings.Repeat("é", 65) + `"}]}`,
		// A key twice: the last would win, hiding the first (as a body's).
		`{"email":"twentyone@example.com","password_hash":"` + vs[0].Hash + `","password_hash":""}`,
		`{"email":"twentytwo@example.com","id":-5}`,
		// A line over 1 MiB is refused like any bad line: it stopped the
		// import, and the lines after it never went in.
		`{"email":"twentythree@example.com","user_metadata":{"a":"` + strings.Repeat("a", transfer.MaxLineBytes) + `"}}`,
		`{"email":"after-long@example.com","email_verified":true,"password_hash":"` + vs[0].Hash + `","external_id":"e-after"}`,
	}, "\n")
	rep := a.importInto(file)
	wantFailed := map[int]string{
		2:  "argon2 m=262145 is over the cap of 262144 KiB",
		3:  "not a JSON account object",
		6:  "email: another account has it",
		7:  `unknown field "pasword_hash"`,
		8:  "not a hash format",
		9:  "a Firebase scrypt hash needs the project's parameters",
		10: "app_metadata: must be a JSON object",
		11: "is not an email address",
		12: "the secret does not open",
		13: "passkey_user_handle",
		14: "derived key must be base64 of 32 bytes",
		15: "external_id: ",
		16: "identities[0]: ",
		17: "passkeys[0]: ",
		18: "passkeys[0]: ",
		19: "password_hash: holds a NUL",
		20: "password_hash: holds a NUL",
		21: "created_at: must be between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
		22: "passkeys[0].last_used_at: must be between",
		23: "passkeys[0]: name is at most 64 characters",
		24: "passkeys[0]: name is at most 64 characters",
		25: "the line repeats a key in one object",
		26: "id: a whole number from 1 to",
		27: "over 1048576 bytes",
	}
	got := map[int]string{}
	for _, f := range rep.Failed {
		got[f.Line] = f.Err.Error()
	}
	for line, want := range wantFailed {
		if !strings.Contains(got[line], want) {
			t.Errorf("line %d: refused with %q, want %q", line, got[line], want)
		}
	}
	if len(got) != len(wantFailed) {
		t.Errorf("refused lines %v, want %d of them", got, len(wantFailed))
	}
	if rep.KeptIDs || rep.Created != 3 || rep.Existing != 0 {
		t.Errorf("report %+v: want 3 created, no ids kept", rep)
	}
	a.mustLogin("after-long@example.com", vs[0].Password)
	// The lines that went in: one has its metadata and a new id; three is
	// unverified.
	one := a.mustLogin("one@example.com", vs[0].Password)
	if id := a.profileID(one); id == 500 || id <= existing.ID {
		t.Errorf("one@example.com got id %d: kept from a keel that had accounts", id)
	}
	a.mustLogin("three@example.com", vs[3].Password)
	// Nothing of a refused line: no account (a 401 like any unknown email).
	a.status(a.do("POST", "/login", credentials("two@example.com", vs[3].Password)), 401, "a refused line's account")
	var events int
	if err := a.db.raw.QueryRow(`SELECT count(*) FROM events WHERE type = 'user.created' AND actor = 'cli' AND data LIKE '%"import"%'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != 3 {
		t.Errorf("%d user.created events of the import, want 3 (one a created account)", events)
	}
	var meta string
	if err := a.db.raw.QueryRow(`SELECT app_metadata FROM users WHERE email = 'one@example.com'`).Scan(&meta); err != nil || meta != `{"plan":"pro"}` {
		t.Errorf("app_metadata %q (%v)", meta, err)
	}

	// The same file again: the accounts with an external_id are there, and
	// nothing changes; the bad lines are refused again.
	again := a.importInto(file)
	if again.Created != 0 || again.Existing != 3 || len(again.Failed) != len(wantFailed) {
		t.Errorf("second import: %+v, want 3 existing and nothing created", again)
	}
	if err := a.db.raw.QueryRow(`SELECT count(*) FROM events WHERE type = 'user.created' AND actor = 'cli'`).Scan(&events); err != nil || events != 3 {
		t.Errorf("%d import events after the second import (%v), want still 3", events, err)
	}
	n, err := a.store.CountUsers(context.Background())
	if err != nil || n != 4 {
		t.Errorf("%d accounts (%v), want 4", n, err)
	}
}

// TestRehashGuard: the rehash of an imported hash happens in the sign-in's
// transaction only while the hash checked is still the account's: a
// password set meanwhile stays, and the sign-in is refused as stale.
func TestRehashGuard(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	vs := foreignVectors(t)
	a.importInto(`{"email":"r@example.com","email_verified":true,"password_hash":"` + vs[3].Hash + `"}`)
	creds, err := a.store.GetCredentials(context.Background(), "r@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// The password changes while the sign-in checks the imported hash.
	if err := a.store.ChangePassword(context.Background(), creds.UserID, "$2a$04$changedchangedchangedchangedchangedchangedchangedchang", "", nil); err != nil {
		t.Fatal(err)
	}
	sess, _ := a.srv.newSession(context.Background(), db.AAL1, amrPassword, true)
	sess.UserID, sess.CheckedHash, sess.Rehash = creds.UserID, creds.PasswordHash, "$2a$04$rehashrehashrehashrehashrehashrehashrehashrehashrehash"
	if err := a.store.CreateSession(context.Background(), sess); err != db.ErrSignInStale {
		t.Errorf("a sign-in over a changed password: %v, want ErrSignInStale", err)
	}
	after, err := a.store.GetCredentials(context.Background(), "r@example.com")
	if err != nil || !strings.Contains(after.PasswordHash, "changed") {
		t.Errorf("the hash is %q (%v): the rehash overwrote the new password", after.PasswordHash, err)
	}
}
