package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// markEnv names a folder where TestEngineRuns leaves a file per engine it
// ran on, so that TestMain can see both runs happened.
const markEnv = "KEEL_TESTUTIL_MARKS"

// TestMain runs this package's tests through RunOnBothEngines and fails the
// run when the tests ran on SQLite but the PostgreSQL run never did: the
// promise that one go test run covers both engines, checked on itself.
func TestMain(m *testing.M) {
	parent := os.Getenv(markEnv) == ""
	if parent {
		dir, err := os.MkdirTemp("", "keel-testutil-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Setenv(markEnv, dir)
	}
	code := RunOnBothEngines(m, (*testing.M).Run)
	if dir := os.Getenv(markEnv); parent {
		_, ranHere := os.Stat(filepath.Join(dir, "sqlite"))
		_, ranChild := os.Stat(filepath.Join(dir, "postgres"))
		if ranHere == nil && spawnsChild() && ranChild != nil {
			fmt.Println("FAIL: RunOnBothEngines: the tests ran on SQLite, but not in a PostgreSQL run")
			code = 1
		}
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// TestEngineRuns leaves its engine's mark (see TestMain).
func TestEngineRuns(t *testing.T) {
	engine := "sqlite"
	if OnPostgres() {
		engine = "postgres"
	}
	if err := os.WriteFile(filepath.Join(os.Getenv(markEnv), engine), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}
