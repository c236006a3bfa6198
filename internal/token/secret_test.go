package token

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadSecret(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := LoadSecret(nil, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, "jwt_secret"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", info, err)
	}
	again, err := LoadSecret(nil, dir, log)
	if err != nil || string(again) != string(first) || len(first) < MinSecretLen {
		t.Errorf("secret not kept: %q then %q (%v)", first, again, err)
	}
	set, _ := LoadSecret([]byte("from-env"), dir, log)
	if string(set) != "from-env" {
		t.Errorf("JWT_SECRET not preferred: %q", set)
	}
	if err := os.WriteFile(filepath.Join(dir, "jwt_secret"), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSecret(nil, dir, log); err == nil {
		t.Error("a kept secret shorter than MinSecretLen was accepted")
	}
}
