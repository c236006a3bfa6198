package main

import (
	"strings"
	"testing"
)

// TestVersionString: a build whose version is its commit (no tag) names it
// once; a tagged build names both.
func TestVersionString(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	for _, tt := range []struct{ version, commit, want string }{
		{"9ca99fc", "9ca99fc", "keel 9ca99fc ("},
		{"9ca99fc-dirty", "9ca99fc", "keel 9ca99fc-dirty ("},
		{"v1.2.0", "9ca99fc", "keel v1.2.0 (commit 9ca99fc, "},
	} {
		version, commit = tt.version, tt.commit
		if got := versionString(); !strings.HasPrefix(got, tt.want) || strings.Count(got, "9ca99fc") != 1 {
			t.Errorf("version %q commit %q: %q, want it to start %q and name the commit once", tt.version, tt.commit, got, tt.want)
		}
	}
}
