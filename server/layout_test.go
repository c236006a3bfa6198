package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keelhq/keel/api"
	"github.com/keelhq/keel/internal/validate"
)

// TestOperationsInOneHop keeps any behaviour findable from the spec in one
// hop: an operation's handler is the Server method named for its operationId,
// in server/<tag>.go, or server/<tag>_<topic>.go for a tag of many topics
// (admin_webhooks.go). The meta operations are served by hand: their method
// keeps the operationId as its (unexported) name, in any file; every OPTIONS
// operation is answerOptions (cors.go); the OpenID Provider's protocol
// endpoints (x-keel-protocol) are pkg/op's, through serveProvider in the
// tag's file.
func TestOperationsInOneHop(t *testing.T) {
	t.Parallel()
	methods := map[string]string{} // method name → file
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil && len(fn.Recv.List) == 1 {
				if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok && star.X.(*ast.Ident).Name == "Server" {
					methods[fn.Name.Name] = f
				}
			}
		}
	}
	spec, err := api.Load()
	if err != nil {
		t.Fatal(err)
	}
	// What Echo really routes to: the generated wrapper of that method, not
	// a hand-written handler registered over it.
	routed := map[string]string{}
	for _, r := range newTestAPI(t).srv.echo.Routes() {
		routed[r.Method+" "+r.Path] = r.Name
	}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if len(op.Tags) != 1 {
				t.Errorf("%s %s: %d tags, want one (its file)", method, path, len(op.Tags))
				continue
			}
			tag, id := op.Tags[0], op.OperationID
			switch {
			case method == "OPTIONS":
				if methods["answerOptions"] != "cors.go" {
					t.Errorf("OPTIONS %s: answerOptions is not in cors.go", path)
				}
			case op.Extensions[validate.ProtocolExtension] == true:
				if methods["serveProvider"] != tag+".go" {
					t.Errorf("%s %s (%s): serveProvider is not in %s.go", method, path, id, tag)
				}
				if got := routed[method+" "+validate.EchoPath(path)]; !strings.HasSuffix(got, ".serveProvider-fm") {
					t.Errorf("%s %s is served by %q, not serveProvider", method, path, got)
				}
			case tag == "meta":
				if methods[id] == "" {
					t.Errorf("%s %s: no Server method %s (meta operations keep their operationId)", method, path, id)
				}
			default:
				name := strings.ToUpper(id[:1]) + id[1:]
				if got := methods[name]; got != tag+".go" && !strings.HasPrefix(got, tag+"_") {
					t.Errorf("%s %s (%s, tag %s): method %s is in %q, want %s.go", method, path, id, tag, name, got, tag)
				}
				if got := routed[method+" "+validate.EchoPath(path)]; !strings.HasSuffix(got, "(*ServerInterfaceWrapper)."+name+"-fm") {
					t.Errorf("%s %s is served by %q, not the generated wrapper of Server.%s", method, path, got, name)
				}
			}
		}
	}
}
