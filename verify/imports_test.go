package verify_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportsNothingOfKeel keeps the package usable by any service behind
// keel: it imports the standard library and go-jose, nothing of keel's
// (no internal package, no generated code), so depending on it pulls in
// none of the server.
func TestImportsNothingOfKeel(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") && !strings.HasPrefix(path, "github.com/go-jose/go-jose/v4") {
				t.Errorf("%s imports %s: only the standard library and go-jose", f, path)
			}
		}
	}
}
