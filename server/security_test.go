package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestBodyLimit: a body over BODY_LIMIT gets 413 without being read into
// memory. The body is a stream of 1 MiB that counts the bytes the server
// takes from it, sent through the real router with its length declared and
// with no length (as a chunked body arrives); the server may read the limit
// and a little more (to see that it is passed), never the rest.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit, size, slack = 1024, 1 << 20, 512
	a := newTestAPI(t, func(c *Config) { c.BodyLimit = limit })
	for _, tt := range []struct {
		name   string
		length int64 // Content-Length; -1 for none
	}{
		{"declared length", size},
		{"unknown length", -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := a.forInput(t)
			body := &countingReader{r: io.LimitReader(io.MultiReader(strings.NewReader(`{"email":"ada@example.com","password":"`), repeatByte('p')), size)}
			req := httptest.NewRequest("POST", "/register", body)
			req.ContentLength = tt.length
			req.Header.Set("Content-Type", "application/json")
			if rec := a.serve(req); rec.Code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 413: %s", rec.Code, rec.Body)
			}
			if n := body.n.Load(); n > limit+slack {
				t.Errorf("the server read %d bytes of the body; the limit is %d", n, limit)
			}
		})
	}
	if rec := a.do("GET", "/", ""); rec.Code != 200 {
		t.Errorf("server stopped serving: %d", rec.Code)
	}
}

// countingReader counts the bytes read from r.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// repeatByte is an endless stream of one byte.
type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestNestingLimit: nesting past 32 levels is refused before it costs a deep
// recursion, at any size up to the body limit.
func TestNestingLimit(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	for _, body := range []string{
		`{"email":"a@example.com","password":"password123","x":` + strings.Repeat("[", 33) + strings.Repeat("]", 33) + `}`,
		strings.Repeat("[", 65000),
	} {
		rec := a.do("POST", "/register", body)
		if rec.Code != 400 || !strings.Contains(rec.Body.String(), "too deeply") {
			t.Errorf("%d bytes of nesting: %d %s", len(body), rec.Code, rec.Body)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	for _, path := range []string{"/", "/nope", "/docs"} {
		h := a.do("GET", path, "").Header()
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
		if h.Get("Content-Security-Policy") == "" || h.Get("Server") != "" || h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: CSP %q, Server %q, HSTS without TLS %q", path, h.Get("Content-Security-Policy"), h.Get("Server"), h.Get("Strict-Transport-Security"))
		}
	}
	if got := a.do("POST", "/login", credentials("x@example.com", "password123")).Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("login Cache-Control %q, want no-store", got)
	}
	req := httptest.NewRequest("GET", "https://keel.example/", nil) // httptest sets TLS for https
	if rec := a.serve(req); rec.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over TLS")
	}
}

func TestContentTypeCase(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	rec := a.do("POST", "/register", credentials("ada@example.com", "password123"), "Content-Type", "APPLICATION/JSON; Charset=UTF-8")
	if rec.Code != 201 {
		t.Errorf("upper-case media type: %d %s", rec.Code, rec.Body)
	}
}

func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	rec := a.do("POST", "/register", "{\"email\":\"ada@example.com\",\"password\":\"pass\xffword123\"}")
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "UTF-8") {
		t.Errorf("invalid UTF-8 password: %d %s", rec.Code, rec.Body)
	}
}

// TestBodyLimitAnyMethod: BODY_LIMIT holds for every operation with a body,
// not only POST ones (PUT /profile/password, DELETE /profile).
func TestBodyLimitAnyMethod(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.BodyLimit = 1024 })
	a.mustRegister("ada@example.com", "password123")
	token := a.mustLogin("ada@example.com", "password123")
	big := `{"current_password":"password123","new_password":"` + strings.Repeat("p", 2000) + `"}`
	for _, tt := range []struct{ method, path, body string }{
		{"PUT", "/profile/password", big},
		{"DELETE", "/profile", `{"password":"` + strings.Repeat("p", 2000) + `"}`},
	} {
		if rec := a.do(tt.method, tt.path, tt.body, "Authorization", "Bearer "+token); rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s %s with a body over the limit: %d %s", tt.method, tt.path, rec.Code, rec.Body)
		}
	}
}

// TestBodyIgnoredWhereNoneIsTaken: a body sent to an operation that takes
// none is never read: no 413 (which those operations do not document).
func TestBodyIgnoredWhereNoneIsTaken(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t, func(c *Config) { c.BodyLimit = 1024 })
	a.mustRegister("ada@example.com", "password123")
	bearer := "Bearer " + a.mustLogin("ada@example.com", "password123")
	big := strings.Repeat("x", 4096)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/profile", 200},
		{"GET", "/sessions", 200},
		{"GET", "/healthz", 200},
		{"POST", "/logout", 204},
	} {
		if rec := a.do(tt.method, tt.path, big, "Authorization", bearer); rec.Code != tt.status {
			t.Errorf("%s %s with a 4 KiB body: %d, want %d: %s", tt.method, tt.path, rec.Code, tt.status, rec.Body)
		}
	}
}

// TestMediaTypes: the request body's media type is read as RFC 9110 says
// (any letter case, parameters allowed), and anything but JSON is a 415.
func TestMediaTypes(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	body := credentials("ada@example.com", "password123")
	for _, tt := range []struct {
		contentType string
		status      int
	}{
		{"Application/JSON; charset=utf-8", 201},
		{"text/plain", 415},
		{"application/jsonx", 415},
		{"application/json;;", 415},
	} {
		if rec := a.do("POST", "/register", body, "Content-Type", tt.contentType); rec.Code != tt.status {
			t.Errorf("Content-Type %q: %d, want %d: %s", tt.contentType, rec.Code, tt.status, rec.Body)
		}
	}
}

// TestBadInput sends /register and /login every kind of bad body keel must
// refuse: each gets its documented 4xx as problem+json (a.do checks the
// contract), none a 5xx, none is accepted, and afterwards the server still
// serves.
func TestBadInput(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")

	const limit = 64 << 10
	big := func(n int) string { return strings.Repeat("a", n) }
	type tc struct {
		name   string
		body   string
		ct     string // Content-Type; application/json when empty
		status int
	}
	// Each body is sent to both routes; for /register the emails are fresh,
	// so a 2xx would mean the bad body was accepted.
	tests := []tc{
		// Not JSON, or not one JSON object.
		{"empty", ``, "", 400},
		{"whitespace", " \n\t ", "", 400},
		{"truncated", `{"email":"new1@example.com","password":"passw`, "", 400},
		{"truncated after colon", `{"email":`, "", 400},
		{"unclosed object", `{"email":"new1@example.com","password":"password123"`, "", 400},
		{"single quotes", `{'email':'new1@example.com','password':'password123'}`, "", 400},
		{"trailing comma", `{"email":"new1@example.com","password":"password123",}`, "", 400},
		{"comment", `{"email":"new1@example.com",/*x*/"password":"password123"}`, "", 400},
		{"NaN", `{"email":"new1@example.com","password":NaN}`, "", 400},
		{"byte order mark", "\ufeff" + `{"email":"new1@example.com","password":"password123"}`, "", 400},
		{"array", `[{"email":"new1@example.com","password":"password123"}]`, "", 400},
		{"empty array", `[]`, "", 400},
		{"string", `"new1@example.com"`, "", 400},
		{"number", `12345`, "", 400},
		{"true", `true`, "", 400},
		{"null", `null`, "", 400},
		{"empty object", `{}`, "", 400},
		// Ambiguous JSON: encoding/json would accept it and read one guess.
		{"trailing object", `{"email":"new2@example.com","password":"password123"} {}`, "", 400},
		{"trailing garbage", `{"email":"new3@example.com","password":"password123"}garbage`, "", 400},
		{"two objects", `{"email":"new4@example.com","password":"password123"}{"email":"x@example.com"}`, "", 400},
		{"duplicate email", `{"email":"other@example.com","email":"new5@example.com","password":"password123"}`, "", 400},
		{"duplicate password", `{"email":"new6@example.com","password":"nope","password":"password123"}`, "", 400},
		{"duplicate via escape", `{"email":"new7@example.com","password":"password123","p\u0061ssword":"password123"}`, "", 400},
		// Wrong types, nulls, missing and unknown fields.
		{"number email", `{"email":42,"password":"password123"}`, "", 400},
		{"object email", `{"email":{"a":"new8@example.com"},"password":"password123"}`, "", 400},
		{"array password", `{"email":"new8@example.com","password":["password123"]}`, "", 400},
		{"bool password", `{"email":"new8@example.com","password":true}`, "", 400},
		{"null email", `{"email":null,"password":"password123"}`, "", 400},
		{"null password", `{"email":"new8@example.com","password":null}`, "", 400},
		{"missing email", `{"password":"password123"}`, "", 400},
		{"missing password", `{"email":"new8@example.com"}`, "", 400},
		{"unknown field", `{"email":"new8@example.com","password":"password123","role":"admin"}`, "", 400},
		{"field in other case", `{"Email":"new8@example.com","password":"password123"}`, "", 400},
		{"proto field", `{"email":"new8@example.com","password":"password123","__proto__":{}}`, "", 400},
		// Long strings: over the spec's lengths, or over the body limit.
		{"255-character email", `{"email":"` + big(243) + `@example.com","password":"password123"}`, "", 400},
		{"73-character password", `{"email":"new8@example.com","password":"` + big(73) + `"}`, "", 400},
		{"1 MB email", `{"email":"` + big(1<<20) + `@example.com","password":"password123"}`, "", 413},
		{"1 MB password", `{"email":"new8@example.com","password":"` + big(1<<20) + `"}`, "", 413},
		{"1 MB unknown field", `{"email":"new8@example.com","password":"password123","x":"` + big(1<<20) + `"}`, "", 413},
		{"body one byte over the limit", credentials("new8@example.com", "password123") + strings.Repeat(" ", limit+1-len(credentials("new8@example.com", "password123"))), "", 413},
		// Invalid UTF-8 and control characters in the email.
		{"invalid UTF-8 in email", "{\"email\":\"new\xff9@example.com\",\"password\":\"password123\"}", "", 400},
		{"truncated UTF-8 in email", "{\"email\":\"new9@exampl\xc3.com\",\"password\":\"password123\"}", "", 400},
		{"overlong UTF-8 in email", "{\"email\":\"new9\xc0\xaf@example.com\",\"password\":\"password123\"}", "", 400},
		{"lone surrogate in email", `{"email":"new9\udc00@example.com","password":"password123"}`, "", 400},
		{"U+FFFD in email", `{"email":"new9\ufffd@example.com","password":"password123"}`, "", 400},
		{"NUL in email", `{"email":"new9\u0000@example.com","password":"password123"}`, "", 400},
		{"newline in email", `{"email":"new9\n@example.com","password":"password123"}`, "", 400},
		{"raw newline in string", "{\"email\":\"new9\n@example.com\",\"password\":\"password123\"}", "", 400},
		{"DEL in email", `{"email":"new9\u007f@example.com","password":"password123"}`, "", 400},
		{"bidi override in email", `{"email":"new9\u202e@example.com","password":"password123"}`, "", 400},
		// Invalid UTF-8 and lone surrogates in the password: never turned into
		// U+FFFD (see TestPasswordNeverAltered).
		{"invalid UTF-8 in password", "{\"email\":\"new10@example.com\",\"password\":\"password\xff123\"}", "", 400},
		{"lone high surrogate in password", `{"email":"new11@example.com","password":"password\ud800123"}`, "", 400},
		{"lone low surrogate in password", `{"email":"new12@example.com","password":"password\udfff123"}`, "", 400},
		{"reversed pair in password", `{"email":"new13@example.com","password":"password\udc00\ud800"}`, "", 400},
		// Content types.
		{"text/plain", credentials("new14@example.com", "password123"), "text/plain", 415},
		{"form", "email=new14%40example.com&password=password123", "application/x-www-form-urlencoded", 415},
		{"multipart", "--x\r\n\r\n--x--", "multipart/form-data; boundary=x", 415},
		{"json with suffix", credentials("new14@example.com", "password123"), "application/vnd.api+json", 415},
		{"two types", credentials("new14@example.com", "password123"), "application/json, text/plain", 415},
		{"garbage type", credentials("new14@example.com", "password123"), ";;;", 415},
	}
	for _, path := range []string{"/register", "/login"} {
		for _, tt := range tests {
			t.Run(path+"/"+tt.name, func(t *testing.T) {
				a := a.forInput(t)
				ct := tt.ct
				if ct == "" {
					ct = "application/json"
				}
				start := time.Now()
				rec := a.send(path, ct, []byte(tt.body))
				if rec.Code != tt.status {
					t.Errorf("status %d, want %d: %.300s", rec.Code, tt.status, rec.Body)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("took %v", d)
				}
			})
		}
	}

	t.Run("still serving", func(t *testing.T) {
		if rec := a.forInput(t).do("GET", "/", ""); rec.Code != http.StatusOK {
			t.Fatalf("GET / → %d %s", rec.Code, rec.Body)
		}
		a.forInput(t).mustLogin("ada@example.com", "password123")
		if logs := a.logs.String(); strings.Contains(logs, `"level":"ERROR"`) {
			t.Errorf("errors logged:\n%s", logs)
		}
	})
}

// TestBodyLimitEdges: the limit is BODY_LIMIT exactly (64 KiB by default),
// whether the client sends Content-Length or streams the body without one,
// and a body just under it is served.
func TestBodyLimitEdges(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	const limit = 64 << 10
	body := func(email string, size int) string {
		b := credentials(email, "password123")
		return b + strings.Repeat(" ", size-len(b))
	}
	send := func(body string, stream bool) int {
		var r io.Reader = strings.NewReader(body)
		if stream {
			r = io.MultiReader(r) // hides the length: sent chunked
		}
		req := httptest.NewRequest("POST", "/register", r)
		req.Header.Set("Content-Type", "application/json")
		if stream && req.ContentLength != -1 {
			req.ContentLength = -1
		}
		return a.serve(req).Code
	}
	for _, tt := range []struct {
		name   string
		body   string
		stream bool
		want   int
	}{
		{"at the limit", body("at@example.com", limit), false, 201},
		{"at the limit, streamed", body("at-streamed@example.com", limit), true, 201},
		{"one byte over", body("over@example.com", limit+1), false, 413},
		{"one byte over, streamed", body("over-streamed@example.com", limit+1), true, 413},
		{"10 MB, streamed", body("huge@example.com", 10<<20), true, 413},
	} {
		if got := send(tt.body, tt.stream); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestPasswordNeverAltered: a password reaches bcrypt exactly as sent. Bytes
// that are not UTF-8 and escaped lone surrogates would be decoded as U+FFFD
// by encoding/json, so two different passwords would open the same account:
// keel refuses them. Control characters are kept, byte for byte.
func TestPasswordNeverAltered(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	raw := func(email, passwordJSON string) string {
		return `{"email":"` + email + `","password":"` + passwordJSON + `"}`
	}
	// Each registration must be refused; if it were not, its sibling (another
	// password that decodes the same) must not log in.
	for i, tt := range []struct{ registered, sibling string }{
		{"password\xff1", "password\xfe1"},
		{"password\xff1", "password\ufffd1"},
		{`password\ud800`, `password\udbff`},
		{`password\udc00`, `password\ufffd`},
		{`password\ud800x`, "password\xc3x"},
	} {
		email := "altered" + string(rune('a'+i)) + "@example.com"
		rec := a.do("POST", "/register", raw(email, tt.registered))
		if rec.Code == http.StatusCreated {
			login := a.do("POST", "/login", raw(email, tt.sibling))
			t.Errorf("registered password %q was accepted (201); logging in with %q gives %d", tt.registered, tt.sibling, login.Code)
		} else if rec.Code != http.StatusBadRequest {
			t.Errorf("register with password %q: %d, want 400", tt.registered, rec.Code)
		}
	}

	// Control characters are legal in a password and are kept exactly.
	for i, pw := range []string{"pass\x00word1", "pass\tword1", "pass\x1bword1", "pass\u2028word1", "pass\u202eword1"} {
		email := "ctrl" + string(rune('a'+i)) + "@example.com"
		a.mustRegister(email, pw)
		a.mustLogin(email, pw)
		isCtrl := func(r rune) bool { return r < 0x20 || r == 0x2028 || r == 0x202e }
		stripped := strings.Map(func(r rune) rune {
			if isCtrl(r) {
				return -1
			}
			return r
		}, pw)
		spaced := strings.Map(func(r rune) rune {
			if isCtrl(r) {
				return ' '
			}
			return r
		}, pw)
		for _, other := range []string{stripped, spaced, pw[:4]} {
			if rec := a.do("POST", "/login", credentials(email, other)); rec.Code != http.StatusUnauthorized {
				t.Errorf("password %q registered; %q logs in with %d, want 401", pw, other, rec.Code)
			}
		}
	}
}

// TestDeepNestingIsCheap: a body under the limit that nests as deep as JSON
// decoding allows costs milliseconds, not seconds: a refused body must not
// cost more CPU than the bcrypt the rate limit is sized for. (kin-openapi puts
// the offending value, indented, in each schema error's message: quadratic in
// the depth, seconds for 20–60 KB, unless schema error details are off.)
func TestDeepNestingIsCheap(t *testing.T) {
	// serial: answers within a 1 s budget, which parallel tests on a loaded machine could eat.
	a := newTestAPI(t)
	const depth = 9990 // encoding/json refuses past 10000
	for _, tt := range []struct{ path, name, body string }{
		{"/register", "objects in an unknown member",
			`{"email":"a@example.com","password":"password123","x":` + strings.Repeat(`{"x":`, depth) + `1` + strings.Repeat("}", depth+1)},
		{"/login", "arrays as the email",
			`{"email":` + strings.Repeat(`[`, depth) + strings.Repeat("]", depth) + `,"password":"password123"}`},
	} {
		done := make(chan *httptest.ResponseRecorder, 1)
		start := time.Now()
		req := httptest.NewRequest("POST", tt.path, strings.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/json")
		go func() { // so that a slow server fails the test at once instead of stalling it
			rec := httptest.NewRecorder()
			a.srv.ServeHTTP(rec, req)
			done <- rec
		}()
		select {
		case rec := <-done:
			a.check(req, rec) // here, not in the goroutine, which may outlive the test
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s %s: %d, want 400", tt.path, tt.name, rec.Code)
			}
		case <-time.After(time.Second):
			t.Errorf("%s %s (%d bytes): no answer after %v; want milliseconds", tt.path, tt.name, len(tt.body), time.Since(start))
		}
	}
}

// TestBearerCheckOrder: a bearer request is refused for its token first,
// then for its inputs, then for its ended session, in that order.
func TestBearerCheckOrder(t *testing.T) {
	t.Parallel()
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	tok := a.mustLogin("ada@example.com", "password123")
	a.status(a.do("POST", "/logout", "", bearer(tok)...), 204, "logout")
	bad := jsonBody("current_password", "password123") // no new_password
	good := jsonBody("current_password", "password123", "new_password", "password456")
	a.status(a.do("PUT", "/profile/password", bad, bearer("not-a-token")...), 401, "bad token, bad body")
	a.status(a.do("PUT", "/profile/password", bad, bearer(tok)...), 400, "ended session, bad body")
	a.status(a.do("PUT", "/profile/password", good, bearer(tok)...), 401, "ended session, good body")
}
