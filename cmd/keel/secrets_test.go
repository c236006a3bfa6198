package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/pgtest"
)

// TestSecretsReseal: after JWT_SECRET changed from A to B (no MFA_KEY),
// `keel secrets reseal` with JWT_SECRET=B and JWT_SECRET_PREVIOUS=A re-seals
// every TOTP secret of A under B, verified factors and enrolments alike,
// and prints how many, so that B alone opens them; run again it re-seals
// nothing; without JWT_SECRET_PREVIOUS, or with a secret sealed under
// neither, it refuses, naming the factor, and changes nothing. The same
// with MFA_KEY and MFA_KEY_PREVIOUS. On both engines.
func TestSecretsReseal(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			url := filepath.Join(t.TempDir(), "keel.db")
			if engine == "postgres" {
				url = pgtest.NewDatabase(t)
			}
			testReseal(t, url)
		})
	}
}

func testReseal(t *testing.T, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := strings.Repeat("a", 32), strings.Repeat("b", 32)
	keysA, keysB := must(mfa.New([]byte(a))), must(mfa.New([]byte(b)))
	reseal := func(env map[string]string) (string, error) {
		env["DATABASE_URL"] = url
		var out bytes.Buffer
		err := run(ctx, []string{"secrets", "reseal"}, func(k string) string { return env[k] }, &out)
		return out.String(), err
	}

	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"DATABASE_URL": url, "JWT_SECRET": a}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	secret := mfa.NewSecret()
	now := time.Now()
	var factors []db.Factor
	for i, email := range []string{"ada@example.com", "bob@example.com", "cy@example.com"} {
		u, err := store.CreateUser(ctx, email, "hash", now, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := "factor-" + email[:2]
		f := db.Factor{ID: id, UserID: u.ID, Kind: db.FactorTOTP, Secret: keysA.Seal(id, secret), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if i == 2 {
			f.Secret = keysB.Seal(id, secret) // enrolled after the change
		}
		if err := store.CreateFactor(ctx, f); err != nil {
			t.Fatal(err)
		}
		factors = append(factors, f)
	}
	opensUnderB := func() (n int) {
		t.Helper()
		for _, f := range factors {
			got, err := store.GetFactor(ctx, f.UserID, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if s, err := keysB.Open(f.ID, got.Secret); err == nil && bytes.Equal(s, secret) {
				n++
			}
		}
		return n
	}

	if _, err := reseal(map[string]string{"JWT_SECRET": b}); err == nil || !strings.Contains(err.Error(), "factor-ad") || !strings.Contains(err.Error(), "JWT_SECRET_PREVIOUS") {
		t.Errorf("without JWT_SECRET_PREVIOUS: %v; want a refusal naming the factor and the setting", err)
	}
	if n := opensUnderB(); n != 1 {
		t.Errorf("after a refusal %d secrets open under B, want 1 (the one enrolled after the change)", n)
	}
	out, err := reseal(map[string]string{"JWT_SECRET": b, "JWT_SECRET_PREVIOUS": a})
	if err != nil || !strings.Contains(out, "re-sealed 2 ") {
		t.Fatalf("reseal: %q, %v; want 2 re-sealed", out, err)
	}
	if n := opensUnderB(); n != 3 {
		t.Errorf("after reseal %d secrets open under B alone, want 3", n)
	}
	if out, err := reseal(map[string]string{"JWT_SECRET": b, "JWT_SECRET_PREVIOUS": a}); err != nil || !strings.Contains(out, "re-sealed 0 ") {
		t.Errorf("reseal again: %q, %v; want 0 re-sealed", out, err)
	}

	// MFA_KEY changes from B's to C, JWT_SECRET untouched.
	c := strings.Repeat("c", 32)
	out, err = reseal(map[string]string{"JWT_SECRET": b, "MFA_KEY": c, "MFA_KEY_PREVIOUS": b})
	if err != nil || !strings.Contains(out, "re-sealed 3 ") {
		t.Fatalf("reseal to MFA_KEY: %q, %v; want 3 re-sealed", out, err)
	}
	if _, err := reseal(map[string]string{"JWT_SECRET": b, "JWT_SECRET_PREVIOUS": a}); err == nil || !strings.Contains(err.Error(), "opens under neither") {
		t.Errorf("secrets of MFA_KEY without it: %v; want a refusal", err)
	}
	if out, err := reseal(map[string]string{"JWT_SECRET": b, "MFA_KEY": c}); err != nil || !strings.Contains(out, "re-sealed 0 ") {
		t.Errorf("reseal under MFA_KEY alone: %q, %v; want 0 re-sealed", out, err)
	}
	var help bytes.Buffer
	if err := run(ctx, []string{"--help"}, func(string) string { return "" }, &help); err != nil || !strings.Contains(help.String(), "keel secrets reseal") {
		t.Errorf("--help does not list keel secrets reseal: %v", err)
	}
	if err := run(ctx, []string{"secrets", "rotate"}, func(k string) string { return map[string]string{"DATABASE_URL": url, "JWT_SECRET": b}[k] }, &help); err == nil || !strings.Contains(err.Error(), "usage: keel secrets reseal") {
		t.Errorf("keel secrets rotate: %v; want the usage", err)
	}
}
