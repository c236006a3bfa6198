package transfer_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keelhq/keel/db/sqlite"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/transfer"
)

// benchUsers is the import the issue sets a bound on: 100,000 accounts in
// under a minute on SQLite (BENCH.md, "Importing users"; make bench-import).
const benchUsers = 100_000

// benchFile is n lines as another system's export would give them: an
// email, the verified flag, a bcrypt hash (one for all: the import checks
// its format, it does not compute it), an external id and app_metadata.
func benchFile(n int) []byte {
	var b bytes.Buffer
	const hash = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	for i := range n {
		fmt.Fprintf(&b, `{"email":"user%d@example.com","email_verified":%t,"password_hash":%q,"external_id":"auth0|%d","app_metadata":{"plan":"free","roles":["reader"]}}`+"\n",
			i, i%3 != 0, hash, i)
	}
	return b.Bytes()
}

// BenchmarkImport100k imports benchUsers accounts into a fresh SQLite
// database, one transaction a line; it reports the seconds one import took
// and fails past a minute.
func BenchmarkImport100k(b *testing.B) {
	file := benchFile(benchUsers)
	keys, err := mfa.New([]byte("bench-mfa-key-0123456789abcdef0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		store, err := sqlite.Open(b.Context(), filepath.Join(dir, fmt.Sprintf("keel-%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		rep, err := transfer.Import(b.Context(), store, bytes.NewReader(file), transfer.ImportOptions{
			Keys: keys, Caps: password.DefaultCaps, Now: time.Now})
		took := time.Since(start)
		b.StopTimer()
		store.Close()
		if err != nil || rep.Created != benchUsers || len(rep.Failed) != 0 {
			b.Fatalf("import: %v, %d created, %d refused", err, rep.Created, len(rep.Failed))
		}
		b.ReportMetric(took.Seconds(), "s/import")
		b.ReportMetric(float64(benchUsers)/took.Seconds(), "users/s")
		if took > time.Minute {
			b.Errorf("%d users took %v to import, over a minute", benchUsers, took)
		}
		b.StartTimer()
	}
}
