// Package pgtest gives tests a throwaway PostgreSQL: one cluster per test
// binary, started on first use with initdb and pg_ctl into a temporary folder
// on a free loopback port (as the postgres user when the tests run as root,
// since initdb refuses root), and one fresh database per test.
//
// The server checks passwords on TCP connections, as a real one does, so a
// test can show what a wrong password does; the URLs this package returns
// carry the postgres role's random password. It checks them with md5, not
// scram-sha-256: SCRAM's 4096 rounds of PBKDF2 on every new connection were
// 6 % of a PostgreSQL test run's CPU under the race detector (PostgreSQL 15
// cannot lower them), and what a test shows is a wrong password refused,
// not the method. Connections on the Unix socket, which only this package
// uses, are trusted.
//
// KEEL_TEST_POSTGRES_URL points the tests at an existing server instead (a
// role that may CREATE DATABASE). Without PostgreSQL binaries the tests that
// need it skip, unless KEEL_REQUIRE_POSTGRES=1 (set by .ci/run) turns the
// skip into a failure.
//
// Not testcontainers or embedded-postgres: no Docker engine runs here, and
// the distribution's own binaries need no download.
package pgtest

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

var (
	once     sync.Once
	admin    string // URL of the maintenance database on the server
	startErr error
	stop     func()
	seq      atomic.Int64
)

// Main runs the tests and stops the cluster afterwards: call it from
// TestMain as os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if stop != nil {
		stop()
	}
	return code
}

// NewDatabase returns the URL of a new, empty database that is dropped when
// the test ends, skipping the test (or failing it in CI) when PostgreSQL is
// not available.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return newDatabase(t, Server(t), "")
}

// newDatabase creates a database for t, a clone of template when it is not
// empty, dropped when t ends, and returns its URL.
func newDatabase(t testing.TB, base, template string) string {
	t.Helper()
	name := fmt.Sprintf("keel_test_%d_%d", os.Getpid(), seq.Add(1))
	if err := createDatabase(base, name, template); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// templates are the databases NewMigratedDatabase clones, one per name,
// migrated once per test process.
var templates struct {
	mu  sync.Mutex
	dbs map[string]*templateDB
}

type templateDB struct {
	once sync.Once
	name string
	err  error
}

// NewMigratedDatabase is NewDatabase already migrated: a clone (CREATE
// DATABASE … TEMPLATE) of a database that migrate, given its URL, migrated
// once for the whole test process; name tells apart the migrate functions.
// Migrating is most of what a fresh database costs, and store and server
// tests each want one. migrate must close every connection it opened: a
// template in use cannot be cloned.
func NewMigratedDatabase(t testing.TB, name string, migrate func(url string) error) string {
	t.Helper()
	base := Server(t)
	templates.mu.Lock()
	if templates.dbs == nil {
		templates.dbs = map[string]*templateDB{}
	}
	tpl := templates.dbs[name]
	if tpl == nil {
		tpl = &templateDB{}
		templates.dbs[name] = tpl
	}
	templates.mu.Unlock()
	tpl.once.Do(func() {
		tpl.name = fmt.Sprintf("keel_template_%s_%d", name, os.Getpid())
		if tpl.err = createDatabase(base, tpl.name, ""); tpl.err != nil {
			return
		}
		u, _ := url.Parse(base)
		u.Path = "/" + tpl.name
		tpl.err = migrate(u.String())
	})
	if tpl.err != nil {
		t.Fatalf("pgtest: the template database: %v", tpl.err)
	}
	return newDatabase(t, base, tpl.name)
}

// createDatabase creates the database name on base, a clone of template
// when it is not empty.
func createDatabase(base, name, template string) error {
	conn, err := sql.Open("pgx", base)
	if err != nil {
		return err
	}
	defer conn.Close()
	q := `CREATE DATABASE ` + name
	if template != "" {
		q += ` TEMPLATE ` + template
	}
	_, err = conn.Exec(q)
	return err
}

// Server returns the URL of the server's maintenance database, starting the
// cluster on first use.
func Server(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if u := os.Getenv("KEEL_TEST_POSTGRES_URL"); u != "" {
			admin = u
			return
		}
		admin, stop, startErr = start()
	})
	if startErr != nil {
		if os.Getenv("KEEL_REQUIRE_POSTGRES") != "" {
			t.Fatalf("pgtest: PostgreSQL is required here (KEEL_REQUIRE_POSTGRES) but cannot start: %v", startErr)
		}
		t.Skipf("pgtest: no PostgreSQL for this test (%v); install PostgreSQL or set KEEL_TEST_POSTGRES_URL", startErr)
	}
	return admin
}

// binDir finds the PostgreSQL server binaries: pg_ctl on PATH, else the
// newest Debian install under /usr/lib/postgresql.
func binDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no initdb or pg_ctl on PATH or in /usr/lib/postgresql/*/bin")
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// start runs initdb and pg_ctl start, and returns the server's URL and a
// function that stops it and removes its files.
func start() (string, func(), error) {
	bin, err := binDir()
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "keel-pgtest-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("running as root and there is no postgres user for initdb: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	run := func(name string, args ...string) error {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", "postgres", "--auth-host=md5", "--auth-local=trust",
		"-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		cleanup()
		return "", nil, err
	}
	port, err := freePort()
	if err != nil {
		cleanup()
		return "", nil, err
	}
	// fsync off and a small footprint: the data is thrown away anyway.
	opts := strings.Join([]string{
		"-p " + strconv.Itoa(port), "-k " + dir, "-c listen_addresses=127.0.0.1",
		"-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off",
		"-c max_connections=300", "-c shared_buffers=32MB",
	}, " ")
	logFile := filepath.Join(dir, "server.log")
	if err := run("pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", logFile, "-o", opts); err != nil {
		log, _ := os.ReadFile(logFile)
		cleanup()
		return "", nil, fmt.Errorf("%v\n%s", err, log)
	}
	stopFn := func() {
		run("pg_ctl", "stop", "-D", data, "-m", "immediate", "-w")
		cleanup()
	}
	// The role has no password yet, so TCP logins fail: set one through the
	// trusted socket.
	socket := fmt.Sprintf("postgres://postgres@/postgres?host=%s&port=%d", url.QueryEscape(dir), port)
	password := rand.Text()
	if err := setPassword(socket, password); err != nil {
		stopFn()
		return "", nil, err
	}
	u := fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", password, port)
	if err := waitReady(u); err != nil {
		stopFn()
		return "", nil, err
	}
	// initdb --auth-host makes TCP logins check the password; make sure,
	// since the wrong-password tests count on it and must not skip.
	if acceptsAnyPassword(u) {
		stopFn()
		return "", nil, fmt.Errorf("the cluster in %s lets a wrong password in on TCP (check its pg_hba.conf)", dir)
	}
	return u, stopFn, nil
}

// setPassword gives the postgres role password, over the socket at u.
func setPassword(u, password string) error {
	if err := waitReady(u); err != nil {
		return err
	}
	conn, err := sql.Open("pgx", u)
	if err != nil {
		return err
	}
	defer conn.Close()
	// Stored as md5 (the package comment says why), which PostgreSQL takes
	// given already hashed: "md5" and the hex MD5 of password then role.
	sum := md5.Sum([]byte(password + "postgres"))
	if _, err := conn.Exec(`ALTER ROLE postgres PASSWORD 'md5` + hex.EncodeToString(sum[:]) + `'`); err != nil {
		return fmt.Errorf("set the postgres role's password: %v", err)
	}
	return nil
}

// UnusedPort is a loopback port nothing listens on (it was free a moment
// ago), for tests of a server that cannot be reached.
func UnusedPort(t testing.TB) string {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(p)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(u string) error {
	conn, err := sql.Open("pgx", u)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if err = conn.PingContext(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WrongPassword returns the server's URL with password in place of the real
// one, for tests of a refused login. The cluster pgtest starts checks
// passwords on TCP; a server from KEEL_TEST_POSTGRES_URL may trust every
// connection, and then there is nothing to show: the test skips, or fails
// under KEEL_REQUIRE_POSTGRES, where every PostgreSQL case must run.
func WrongPassword(t testing.TB, password string) string {
	t.Helper()
	u, err := url.Parse(Server(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	if acceptsAnyPassword(u.String()) {
		const why = "the server accepts any password (trust authentication), so a wrong one cannot be shown"
		if os.Getenv("KEEL_REQUIRE_POSTGRES") != "" {
			t.Fatalf("pgtest: every PostgreSQL case must run here (KEEL_REQUIRE_POSTGRES), but %s; "+
				"point KEEL_TEST_POSTGRES_URL at a server that checks passwords on TCP", why)
		}
		t.Skip("pgtest: " + why)
	}
	return u.String()
}

// acceptsAnyPassword reports whether the server at u lets its user in with
// a password that is not theirs.
func acceptsAnyPassword(u string) bool {
	wrong, err := url.Parse(u)
	if err != nil {
		return false
	}
	wrong.User = url.UserPassword(wrong.User.Username(), "pgtest-"+rand.Text()) // never the real one
	conn, err := sql.Open("pgx", wrong.String())
	if err != nil {
		return false
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return conn.PingContext(ctx) == nil
}
