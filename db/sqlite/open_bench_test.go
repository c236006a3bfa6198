package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkOpenFresh is the database's share of keel's start on a fresh
// SQLite file: create it, apply keel's and River's migrations, prepare the
// queries (BENCH.md, "Start-up on a fresh database").
func BenchmarkOpenFresh(b *testing.B) {
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		d, err := Open(b.Context(), filepath.Join(dir, fmt.Sprintf("keel-%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
