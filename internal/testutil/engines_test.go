package testutil

import (
	"slices"
	"testing"
)

// TestChildArgs: the PostgreSQL run keeps the parent's flags but for those
// naming an output file, which two processes must not write at once.
func TestChildArgs(t *testing.T) {
	in := []string{"-test.paniconexit0", "-test.timeout=10m0s", "-test.run=^TestX$", "-test.v=test2json",
		"-test.testlogfile=/tmp/x/testlog.txt", "-test.cpuprofile=cpu.out", "-test.trace=trace.out", "-test.count=1"}
	want := []string{"-test.paniconexit0", "-test.timeout=10m0s", "-test.run=^TestX$", "-test.v=test2json", "-test.count=1"}
	if got := childArgs(in); !slices.Equal(got, want) {
		t.Errorf("childArgs:\n got %q\nwant %q", got, want)
	}
}
