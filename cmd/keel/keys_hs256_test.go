package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysRotateOnHS256: on an install that signs with HS256, `keel keys
// rotate` makes no key and says to set JWT_ALG: a key made then would be
// published by no replica (none has a key ring) and would switch the
// install off HS256 at its next start, without JWT_ALG and without the
// window in which the HS256 tokens of before are accepted.
func TestKeysRotateOnHS256(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "keel.db"), "JWT_ALG": "HS256"}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	err := run(ctx, []string{"keys", "rotate"}, getenv, &out)
	if err == nil || !strings.Contains(err.Error(), "JWT_ALG") {
		t.Errorf("keel keys rotate on HS256: %v (%s), want an error naming JWT_ALG", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"keys", "list"}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "next") || !strings.Contains(out.String(), "no signing keys in "+env["DATABASE_URL"]) {
		t.Errorf("keys after the refused rotate (an empty list names the database, so a wrong DATABASE_URL shows):\n%s", out.String())
	}
}
