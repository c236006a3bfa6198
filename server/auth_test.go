package server

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/bcrypt"

	"github.com/keelhq/keel/gen/oapi"
)

func TestRegister(t *testing.T) {
	a := newTestAPI(t)
	a.mustRegister("taken@example.com", "password123")

	long := strings.Repeat("é", 40) // 40 characters, 80 bytes: over bcrypt's 72
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int
		field       string // for a 400, the field the problem names
		email       string // for a 201, the stored email
	}{
		{name: "ok", body: credentials("ada@example.com", "password123"), status: 201, email: "ada@example.com"},
		{name: "lower-cased", body: credentials("Grace@Example.COM", "password123"), status: 201, email: "grace@example.com"},
		{name: "surrounding spaces", body: credentials("  hopper@example.com ", "password123"), status: 400},
		{name: "UTF-8 local part", body: credentials("ñandú@example.com", "password123"), status: 400},
		{name: "UTF-8 domain", body: credentials("ada@exämple.com", "password123"), status: 400},
		{name: "72-byte password", body: credentials("max@example.com", strings.Repeat("p", 72)), status: 201, email: "max@example.com"},
		{name: "duplicate", body: credentials("taken@example.com", "password123"), status: 409},
		{name: "duplicate in another case", body: credentials("TAKEN@example.com", "password123"), status: 409},
		{name: "not an email", body: credentials("ada", "password123"), status: 400, field: "/email"},
		{name: "display name", body: credentials("Ada <ada@example.com>", "password123"), status: 400, field: "/email"},
		{name: "two addresses", body: credentials("a@example.com, b@example.com", "password123"), status: 400, field: "/email"},
		{name: "control character", body: credentials("ada\u0007@example.com", "password123"), status: 400, field: "/email"},
		{name: "short password", body: credentials("ada2@example.com", "short"), status: 400, field: "/password"},
		{name: "password over 72 characters", body: credentials("ada2@example.com", strings.Repeat("p", 73)), status: 400, field: "/password"},
		{name: "password over 72 bytes", body: credentials("ada2@example.com", long), status: 400, field: "/password"},
		// The byte rule, not the length rule: 72 characters are 73 bytes here.
		{name: "72 characters, 73 bytes", body: credentials("ada2@example.com", strings.Repeat("p", 71)+"é"), status: 400, field: "/password"},
		{name: "missing password", body: `{"email":"ada2@example.com"}`, status: 400, field: "/password"},
		{name: "missing email", body: `{"password":"password123"}`, status: 400, field: "/email"},
		{name: "null email", body: `{"email":null,"password":"password123"}`, status: 400, field: "/email"},
		{name: "number password", body: `{"email":"ada2@example.com","password":12345678}`, status: 400, field: "/password"},
		{name: "unknown field", body: `{"email":"ada2@example.com","password":"password123","admin":true}`, status: 400, field: "/"},
		{name: "array", body: `[]`, status: 400, field: "/"},
		{name: "string", body: `"hello"`, status: 400, field: "/"},
		{name: "malformed JSON", body: `{"email":`, status: 400},
		{name: "empty body", body: ``, status: 400},
		{name: "wrong content type", body: credentials("ada2@example.com", "password123"), contentType: "text/plain", status: 415},
		{name: "form content type", body: "email=a%40b.c&password=password123", contentType: "application/x-www-form-urlencoded", status: 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := []string{}
			if tt.contentType != "" {
				hdr = append(hdr, "Content-Type", tt.contentType)
			}
			rec := a.do("POST", "/register", tt.body, hdr...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if body := rec.Body.String(); strings.Contains(body, "password123") || strings.Contains(body, "$2a$") {
				t.Errorf("response shows the password or its hash: %s", body)
			}
			switch {
			case tt.status == 201:
				u := decode[oapi.User](t, rec)
				if string(u.Email) != tt.email || u.ID < 1 || u.CreatedAt.IsZero() {
					t.Errorf("user %+v, want email %q", u, tt.email)
				}
			case tt.field != "":
				p := problemOf(t, rec)
				if p.Errors == nil || len(*p.Errors) == 0 || (*p.Errors)[0].Field != tt.field {
					t.Errorf("problem %s does not name field %s", rec.Body, tt.field)
				}
			}
		})
	}
}

// TestRegisterRace registers one email from many goroutines at once: exactly
// one gets 201, the others 409, none a 5xx or "database is locked".
func TestRegisterRace(t *testing.T) {
	a := newTestAPI(t)
	const n = 16
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { codes <- a.do("POST", "/register", credentials("race@example.com", "password123")).Code })
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if diff := cmp.Diff(map[int]int{201: 1, 409: n - 1}, got); diff != "" {
		t.Errorf("status counts (-want +got):\n%s", diff)
	}
}

func TestLogin(t *testing.T) {
	a := newTestAPI(t)
	a.mustRegister("ada@example.com", "password123")
	// 71 characters, 72 bytes: bcrypt reads all of it. Sent with one more
	// character it is 72 characters (the spec allows them) and 73 bytes, of
	// which bcrypt would read the first 72 and find a match: only the byte
	// rule keeps that wrong password out.
	full := strings.Repeat("p", 70) + "é"
	a.mustRegister("full@example.com", full)

	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"72-byte password", credentials("full@example.com", full), 200},
		{"72 characters, 73 bytes, bcrypt's first 72 right", credentials("full@example.com", full+"p"), 400},
		{"ok", credentials("ada@example.com", "password123"), 200},
		{"email in another case", credentials("ADA@example.com", "password123"), 200},
		{"wrong password", credentials("ada@example.com", "password124"), 401},
		{"unknown email", credentials("bob@example.com", "password123"), 401},
		{"empty password", credentials("ada@example.com", ""), 400},
		{"password over 72 bytes", credentials("ada@example.com", strings.Repeat("é", 40)), 400},
		{"missing body", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := a.do("POST", "/login", tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.status == 200 {
				tok := decode[oapi.Token](t, rec)
				if tok.TokenType != oapi.Bearer || tok.ExpiresIn != 900 || tok.Token == "" || tok.RefreshToken == "" || tok.RefreshExpiresIn != 30*24*3600 {
					t.Errorf("token %+v", tok)
				}
			}
		})
	}

	t.Run("unknown email and wrong password cost one bcrypt comparison each", func(t *testing.T) {
		// Record every comparison bcrypt is asked to make, and the hash it
		// compares against.
		var mu sync.Mutex
		var compared [][]byte
		p := a.srv.passwords
		compare := p.compare
		p.compare = func(hash, password []byte) error {
			mu.Lock()
			compared = append(compared, hash)
			mu.Unlock()
			return compare(hash, password)
		}
		t.Cleanup(func() { p.compare = compare })
		ada, err := a.store.GetCredentials(t.Context(), "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		dummy := p.dummy()
		// The dummy must cost what a real hash costs, or the timing differs.
		if cost, err := bcrypt.Cost(dummy); err != nil || cost != a.srv.cfg.BcryptCost {
			t.Fatalf("dummy hash %q: cost %d (%v), want a bcrypt hash at cost %d", dummy, cost, err, a.srv.cfg.BcryptCost)
		}
		for _, tt := range []struct {
			body string
			hash []byte
		}{
			{credentials("bob@example.com", "password123"), dummy},
			{credentials("ada@example.com", "wrong-password"), []byte(ada.PasswordHash)},
		} {
			compared = nil
			a.do("POST", "/login", tt.body)
			if len(compared) != 1 || !bytes.Equal(compared[0], tt.hash) {
				t.Errorf("%s: compared against %q, want once against %q", tt.body, compared, tt.hash)
			}
		}
	})

	t.Run("unknown email and wrong password answer alike", func(t *testing.T) {
		unknown := problemOf(t, a.do("POST", "/login", credentials("bob@example.com", "password123")))
		wrong := problemOf(t, a.do("POST", "/login", credentials("ada@example.com", "wrong-password")))
		unknown.Instance, wrong.Instance = nil, nil
		if diff := cmp.Diff(unknown, wrong); diff != "" {
			t.Errorf("bodies differ (-unknown +wrong):\n%s", diff)
		}
	})
}

// TestBcryptLimit: bcrypt's own byte limit backs the spec's character limit,
// so no password is ever truncated.
func TestBcryptLimit(t *testing.T) {
	p := newPasswords(4, 1, 1)
	if _, err := p.hash(t.Context(), strings.Repeat("é", 40)); err != errPasswordTooLong {
		t.Errorf("hash of 80 bytes: %v, want errPasswordTooLong", err)
	}
	if err := p.check(t.Context(), nil, "anything"); err != errBadCredentials {
		t.Errorf("check with no hash: %v, want errBadCredentials", err)
	}
	if rec := problemFor(errPasswordTooLong); rec.Status != http.StatusBadRequest {
		t.Errorf("errPasswordTooLong maps to %d", rec.Status)
	}
}
