package testutil

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// EngineEnv names the database a package's tests run on: unset is SQLite,
// "postgres" is PostgreSQL (a throwaway cluster, internal/pgtest).
const EngineEnv = "KEEL_TEST_DB"

// OnPostgres reports whether this process runs its tests on PostgreSQL.
func OnPostgres() bool { return os.Getenv(EngineEnv) == "postgres" }

// RunOnBothEngines runs a package's tests on SQLite in this process and, at
// the same time, on PostgreSQL in a child process of the same test binary
// (EngineEnv=postgres), so one `go test ./...` covers both engines with one
// build, and the two runs share the machine's cores. The child's output is
// shown when it fails or under -v. Call it from TestMain with the function
// that runs the tests (m.Run, or pgtest.Main, which also stops the cluster).
//
// Benchmarks, fuzzing, -list and coverage profiles run once, here: doubling
// them would only double their time (or clobber the profile).
func RunOnBothEngines(m *testing.M, run func(*testing.M) int) int {
	flag.Parse()
	if !spawnsChild() {
		return run(m)
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testutil: the PostgreSQL run cannot start:", err)
		return 1
	}
	child := exec.Command(exe, childArgs(os.Args[1:])...)
	child.Env = append(os.Environ(), EngineEnv+"=postgres")
	var out bytes.Buffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testutil: the PostgreSQL run cannot start:", err)
		return 1
	}
	code := run(m)
	err = child.Wait()
	if err != nil || testing.Verbose() {
		fmt.Printf("=== the same tests on PostgreSQL (%s=postgres): %v\n%s", EngineEnv, errOrPass(err), out.Bytes())
	}
	if err != nil && code == 0 {
		code = 1
	}
	return code
}

// spawnsChild reports whether RunOnBothEngines starts the PostgreSQL run:
// not in that run itself, nor for benchmarks, fuzzing, -list or coverage.
func spawnsChild() bool {
	return os.Getenv(EngineEnv) == "" && !flagSet("test.bench") && !flagSet("test.fuzz") &&
		!flagSet("test.list") && !flagSet("test.coverprofile")
}

// childArgs are the test flags the PostgreSQL run gets: the parent's, less
// those naming an output file (profiles, traces, go test's cache log), which
// two processes must not write at once.
func childArgs(args []string) []string {
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "test.testlogfile", "test.cpuprofile", "test.memprofile", "test.blockprofile",
			"test.mutexprofile", "test.trace", "test.coverprofile", "test.outputdir", "test.gocoverdir":
			continue
		}
		out = append(out, a)
	}
	return out
}

func flagSet(name string) bool {
	f := flag.Lookup(name)
	return f != nil && f.Value.String() != "" && f.Value.String() != f.DefValue
}

func errOrPass(err error) any {
	if err == nil {
		return "PASS"
	}
	return err
}
