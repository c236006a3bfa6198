package token

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// TestLoadFileSecretOpenToOthers: a kept secret (jwt_secret, keys_kek) that
// others than its owner may read is used, with a warning naming the file,
// as ssh warns of a private key others can read.
func TestLoadFileSecretOpenToOthers(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys_kek")
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	if _, err := LoadFileSecret(path, "KEYS_KEK", log); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := LoadFileSecret(path, "KEYS_KEK", log); err != nil || out.Len() != 0 {
		t.Fatalf("a kept secret of mode 0600: %v, log %q", err, out.String())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFileSecret(path, "KEYS_KEK", log); err != nil || !strings.Contains(out.String(), "readable by others") {
		t.Errorf("a kept secret of mode 0644: %v, log %q", err, out.String())
	}
}
