package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/jsonlog"
	"github.com/keelhq/keel/internal/password"
)

// The fuzz targets send arbitrary bodies (and Content-Types) to /register and
// /login through the real router. Whatever arrives, keel must answer with a
// status the spec documents for the operation, never a 5xx, every 4xx as
// RFC 9457 problem+json, and it may only accept (2xx) a body that is one
// unambiguous JSON value whose strings reach the handler exactly as sent.
// The seed corpus in testdata/fuzz runs with every `go test`; `make fuzz`
// explores further.

// fuzzAPI is a testAPI for a fuzz target: built once per target (the store
// lives as long as the fuzz worker) with bcrypt cost 4, no rate limit, and a
// queue deep enough for any worker count. Each input gets a copy whose t is
// that input's *testing.T (see forInput).
func fuzzAPI(f *testing.F) *testAPI {
	f.Helper()
	d := newTestDB(f)
	a := &testAPI{db: d, store: d.store, clock: &clock{t: time.Now()}, logs: &syncBuffer{}}
	log := slog.New(jsonlog.New(a.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a.srv, a.jobs = newServer(f, testConfig(), d, log, a.clock.Now, password.New(4, runtime.NumCPU(), 1024))
	return a
}

// forInput returns a copy of a that reports to t.
func (a *testAPI) forInput(t *testing.T) *testAPI {
	c := *a
	c.t = t
	return &c
}

// send POSTs body with contentType (none when empty) to path and checks what
// holds for every answer: documented status and shape, no 5xx, no password
// hash in the body.
func (a *testAPI) send(path, contentType string, body []byte) *httptest.ResponseRecorder {
	t := a.t
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	a.srv.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("POST %s → %d for body %q (Content-Type %q): %s", path, rec.Code, body, contentType, rec.Body)
	}
	if err := spec.Check(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Fatalf("contract, for body %q (Content-Type %q): %v", body, contentType, err)
	}
	if strings.Contains(rec.Body.String(), "$2a$") {
		t.Fatalf("answer shows a bcrypt hash: %s", rec.Body)
	}
	return rec
}

// strictCredentials decodes body the way keel must read it before it may
// accept it: exactly one JSON object, valid UTF-8, no lone surrogate escapes
// (encoding/json turns those into U+FFFD), no duplicate member names, only
// string members email and password. ok is false when the body is anything
// else; keel must then answer 4xx.
func strictCredentials(body []byte) (email, password string, ok bool) {
	if !utf8.Valid(body) || !json.Valid(body) || hasLoneSurrogate(body) || hasDuplicateKeys(body) {
		return "", "", false
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil || len(m) != 2 {
		return "", "", false
	}
	email, ok1 := m["email"].(string)
	password, ok2 := m["password"].(string)
	return email, password, ok1 && ok2
}

// hasLoneSurrogate reports whether a JSON text holds a \uD800–\uDFFF escape
// that is not part of a surrogate pair. Such a string has no exact Go form:
// encoding/json decodes it as U+FFFD, so "\ud800" and "\udfff" would read as
// the same password.
func hasLoneSurrogate(b []byte) bool {
	hex4 := func(i int) (rune, bool) {
		if i+4 > len(b) {
			return 0, false
		}
		var r rune
		for _, c := range b[i : i+4] {
			switch {
			case '0' <= c && c <= '9':
				r = r<<4 | rune(c-'0')
			case 'a' <= c && c <= 'f':
				r = r<<4 | rune(c-'a'+10)
			case 'A' <= c && c <= 'F':
				r = r<<4 | rune(c-'A'+10)
			default:
				return 0, false
			}
		}
		return r, true
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		if b[i+1] != 'u' {
			i++ // an escaped character, possibly a backslash
			continue
		}
		r, ok := hex4(i + 2)
		if !ok {
			continue
		}
		switch {
		case 0xDC00 <= r && r <= 0xDFFF:
			return true // a low half with no high half before it
		case 0xD800 <= r && r <= 0xDBFF:
			j := i + 6
			if j+1 < len(b) && b[j] == '\\' && b[j+1] == 'u' {
				if lo, ok := hex4(j + 2); ok && 0xDC00 <= lo && lo <= 0xDFFF {
					i = j + 5
					continue
				}
			}
			return true
		}
		i += 5
	}
	return false
}

// hasDuplicateKeys reports whether any JSON object in b names a member twice
// (compared after decoding escapes). b must be valid JSON.
func hasDuplicateKeys(b []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object the next token is a key again.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}

// fuzzSeeds are the in-code seeds of both targets, with email and password
// being an account's (FuzzLogin) or a fresh one (FuzzRegister, where each seed
// gets its own email so that none is a mere 409); testdata/fuzz holds the
// rest (malformed JSON, wrong types, invalid UTF-8, deep nesting …).
func fuzzSeeds(f *testing.F, email func(i int) string, password string) {
	for i, s := range []struct{ body, ct string }{
		{`{"email":"%s","password":"%s"}`, "application/json"},
		{`{"email":"%s","password":"%s"}`, "application/json; charset=utf-8"},
		{`{"email":"%s","password":"%s"}`, "text/plain"},
		{`{"email":"%s","password":"%s"}`, ""},
		{``, "application/json"},
		{`{}`, "application/json"},
		{`null`, "application/json"},
		{`[{"email":"%s","password":"%s"}]`, "application/json"},
		{`{"email":"%s","password":"%s","admin":true}`, "application/json"},
		{`{"email":"%s","password":"%s"} {}`, "application/json"},
		{`{"email":"%s","password":"%s"}garbage`, "application/json"},
		{`{"email":"%s","password":"%s\u0000"}`, "application/json"},
		{"{\"email\":\"%s\",\"password\":\"%s\xff\"}", "application/json"},
		{`{"email":"%s","password":"%s\ud800"}`, "application/json"},
		{`{"email":"%s","password":"%s\udfff\ud800"}`, "application/json"},
		{`{"email":"other@example.com","email":"%s","password":"%s"}`, "application/json"},
		{`{"email":"%s","password":"wrong password","password":"%s"}`, "application/json"},
		{`{"email":"%s","password":"%s` + strings.Repeat("x", 64<<10) + `"}`, "application/json"}, // over BODY_LIMIT
		{`{"email":"%s` + strings.Repeat("a", 300) + `","password":"%s"}`, "application/json"},
		{strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "application/json"},
		{`{"email":"%s","password":"%s","x":` + strings.Repeat(`{"x":`, 1000) + `1` + strings.Repeat("}", 1001), "application/json"},
	} {
		body := s.body
		if strings.Contains(body, "%s") {
			body = fmt.Sprintf(body, email(i), password)
		}
		f.Add([]byte(body), s.ct)
	}
}

// FuzzRegister: any body to POST /register. A 201 must come only from an
// unambiguous body, must store the email as sent (trimmed, lower-cased), and
// the password as sent must then log in.
func FuzzRegister(f *testing.F) {
	fuzzSeeds(f, func(i int) string { return fmt.Sprintf("seed%d@example.com", i) }, "password123")
	api := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		a := api.forInput(t)
		rec := a.send("/register", contentType, body)
		if rec.Code != http.StatusCreated {
			return
		}
		email, password, ok := strictCredentials(body)
		if !ok {
			t.Fatalf("201 for an ambiguous or malformed body %q (Content-Type %q): %s", body, contentType, rec.Body)
		}
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/json") {
			t.Fatalf("201 for Content-Type %q", contentType)
		}
		u := decode[oapi.User](t, rec)
		if string(u.Email) != normalizeEmail(email) {
			t.Fatalf("sent email %q, stored %q", email, u.Email)
		}
		if rec := a.send("/login", "application/json", []byte(credentials(email, password))); rec.Code != http.StatusOK {
			t.Fatalf("registered %q with password %q (body %q) but cannot log in: %d %s", email, password, body, rec.Code, rec.Body)
		}
	})
}

// fuzzUser is the account FuzzLogin's inputs try to get into.
const (
	fuzzEmail    = "known@example.com"
	fuzzPassword = "correct horse battery"
)

// FuzzLogin: any body to POST /login against a database holding fuzzUser.
// A 200 must come only from an unambiguous body holding exactly that email
// (in any case, with spaces) and exactly that password.
func FuzzLogin(f *testing.F) {
	fuzzSeeds(f, func(int) string { return fuzzEmail }, fuzzPassword)
	f.Add([]byte(credentials(" KNOWN@example.com ", fuzzPassword)), "application/json")
	f.Add([]byte(credentials(fuzzEmail, fuzzPassword+"x")), "application/json")
	api := fuzzAPI(f)
	{
		req := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(credentials(fuzzEmail, fuzzPassword)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		api.srv.ServeHTTP(rec, req)
		if err := spec.Check(req, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			f.Fatalf("contract: %v", err)
		}
		if rec.Code != http.StatusCreated {
			f.Fatalf("register the fuzz user: %d %s", rec.Code, rec.Body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		a := api.forInput(t)
		rec := a.send("/login", contentType, body)
		if rec.Code != http.StatusOK {
			return
		}
		email, password, ok := strictCredentials(body)
		if !ok {
			t.Fatalf("200 for an ambiguous or malformed body %q (Content-Type %q)", body, contentType)
		}
		if normalizeEmail(email) != fuzzEmail || password != fuzzPassword {
			t.Fatalf("200 for email %q password %q, which are not the account's (body %q)", email, password, body)
		}
		if tok := decode[oapi.Token](t, rec); tok.Token == "" || tok.TokenType != oapi.Bearer {
			t.Fatalf("200 without a token: %s", rec.Body)
		}
	})
}

// TestStrictCredentials checks the fuzz oracle itself, so that a bug in it
// cannot hide a bug in keel.
func TestStrictCredentials(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"email":"a@b.co","password":"password1"}`, true},
		{` {"password":"p\u00e9\ud83d\ude00", "email":"a@b.co"} `, true},
		{`{"email":"a@b.co","password":"pass\\ud800"}`, true}, // an escaped backslash, then "ud800"
		{`{"email":"a@b.co","password":"pass\ud800"}`, false},
		{`{"email":"a@b.co","password":"pass\udc00"}`, false},
		{`{"email":"a@b.co","password":"pass\ud800\u0041"}`, false},
		{"{\"email\":\"a@b.co\",\"password\":\"pass\xff\"}", false},
		{`{"email":"a@b.co","password":"password1"} x`, false},
		{`{"email":"a@b.co","password":"password1"}{}`, false},
		{`{"email":"a@b.co","password":"password1","email":"c@d.co"}`, false},
		{`{"email":"a@b.co","password":"password1","e\u006dail":"c@d.co"}`, false},
		{`{"email":"a@b.co","password":"password1","x":1}`, false},
		{`{"email":"a@b.co","password":null}`, false},
		{`[]`, false},
	} {
		if _, _, ok := strictCredentials([]byte(tt.body)); ok != tt.ok {
			t.Errorf("strictCredentials(%q) ok = %v, want %v", tt.body, ok, tt.ok)
		}
	}
	if !hasDuplicateKeys([]byte(`{"a":{"b":1,"b":2}}`)) || hasDuplicateKeys([]byte(`{"a":{"b":1},"b":{"a":[{"a":1},{"a":2}]}}`)) {
		t.Error("hasDuplicateKeys is wrong about nested objects")
	}
}
