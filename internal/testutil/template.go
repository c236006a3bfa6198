package testutil

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// templates are the migrated database files MigratedCopy copies, one per
// migrate function's name, made once per test process.
var templates struct {
	mu    sync.Mutex
	dir   string
	files map[string]*template
}

type template struct {
	once sync.Once
	path string
	err  error
}

// MigratedCopy returns the path of a fresh SQLite database file in t's
// temporary folder: a copy of one that migrate made (by opening it through
// keel, which applies every migration) once for the whole test process.
// Migrating is most of what opening a fresh database costs (twenty
// migrations and River's, some 0.7 s under -race), and each store and server
// test wants a fresh one. name tells apart templates of different migrate
// functions. RemoveTemplates deletes them when the tests are done.
func MigratedCopy(t testing.TB, name string, migrate func(path string) error) string {
	t.Helper()
	templates.mu.Lock()
	if templates.files == nil {
		templates.files = map[string]*template{}
	}
	tpl := templates.files[name]
	if tpl == nil {
		tpl = &template{}
		templates.files[name] = tpl
	}
	templates.mu.Unlock()
	tpl.once.Do(func() {
		templates.mu.Lock()
		if templates.dir == "" {
			templates.dir, tpl.err = os.MkdirTemp("", "keel-test-templates-")
		}
		dir := templates.dir
		templates.mu.Unlock()
		if tpl.err != nil {
			return
		}
		tpl.path = filepath.Join(dir, name+".db")
		tpl.err = migrate(tpl.path)
	})
	if tpl.err != nil {
		t.Fatalf("migrating the template database: %v", tpl.err)
	}
	path := filepath.Join(t.TempDir(), "keel.db")
	// The -wal file too, should the template's last close have left one.
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(tpl.path+suffix, path+suffix); err != nil && !(suffix != "" && os.IsNotExist(err)) {
			t.Fatalf("copying the template database: %v", err)
		}
	}
	return path
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return out.Close()
}

// RemoveTemplates deletes the files MigratedCopy made; call it from TestMain
// after the tests have run.
func RemoveTemplates() {
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if templates.dir != "" {
		os.RemoveAll(templates.dir)
	}
}
