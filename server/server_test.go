package server

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keelhq/keel/gen/oapi"
)

// TestMixedLoad runs registrations, logins (right and wrong passwords, known
// and unknown emails), profile reads and health checks from many goroutines
// at once, with the scheduled job counting users alongside, for a bounded
// time: every answer is one the spec documents and expected for the request,
// none is a 5xx, and nothing like "database is locked" appears anywhere.
func TestMixedLoad(t *testing.T) {
	t.Parallel()
	a := loadAPI(t)
	const seeded = 8
	tokens := make([]string, seeded)
	for i := range seeded {
		a.mustRegister(fmt.Sprintf("seed%d@example.com", i), "password123")
		tokens[i] = a.mustLogin(fmt.Sprintf("seed%d@example.com", i), "password123")
	}

	duration, maxOps := 1500*time.Millisecond, 400
	if testing.Short() {
		duration, maxOps = 300*time.Millisecond, 100
	}
	deadline := time.Now().Add(duration)
	var (
		next   atomic.Int64 // unique suffix for new emails
		ops    atomic.Int64
		counts sync.Map // "op status" → *atomic.Int64
	)
	count := func(op string, code int) {
		v, _ := counts.LoadOrStore(fmt.Sprintf("%s %d", op, code), new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	expect := func(op string, code int, ok ...int) {
		count(op, code)
		for _, c := range ok {
			if code == c {
				return
			}
		}
		t.Errorf("%s: %d, want one of %v", op, code, ok)
	}

	stopJob := make(chan struct{})
	jobDone := make(chan struct{})
	go func() { // the scheduled job, as fast as it goes
		defer close(jobDone)
		for {
			select {
			case <-stopJob:
				return
			default:
			}
			if _, err := a.store.CountUsers(t.Context()); err != nil {
				t.Errorf("job: %v", err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()

	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(deadline) && ops.Add(1) <= int64(maxOps) {
				i := r.IntN(seeded)
				email := fmt.Sprintf("seed%d@example.com", i)
				switch op := r.IntN(7); op {
				case 0:
					e := fmt.Sprintf("new%d@example.com", next.Add(1))
					expect("register new", a.do("POST", "/register", credentials(e, "password123")).Code, 201)
				case 1:
					expect("register taken", a.do("POST", "/register", credentials(strings.ToUpper(email), "password123")).Code, 409)
				case 2:
					expect("login", a.do("POST", "/login", credentials(email, "password123")).Code, 200)
				case 3:
					expect("login wrong password", a.do("POST", "/login", credentials(email, "password124")).Code, 401)
				case 4:
					expect("login unknown", a.do("POST", "/login", credentials("nobody@example.com", "password123")).Code, 401)
				case 5:
					rec := a.do("GET", "/profile", "", "Authorization", "Bearer "+tokens[i])
					expect("profile", rec.Code, 200)
					if rec.Code == 200 && string(decode[oapi.User](t, rec).Email) != email {
						t.Errorf("profile of %s: %s", email, rec.Body)
					}
				case 6:
					expect("health", a.do("GET", "/", "").Code, 200)
				}
			}
		})
	}
	wg.Wait()
	close(stopJob)
	<-jobDone

	var summary []string
	counts.Range(func(k, v any) bool {
		summary = append(summary, fmt.Sprintf("%s×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("%d requests: %s", min(ops.Load(), int64(maxOps)), strings.Join(summary, ", "))
	checkLogs(t, a)
}

// checkLogs fails the test when keel logged an error or a lock failure.
func checkLogs(t *testing.T, a *testAPI) {
	t.Helper()
	logs := a.logs.String()
	for _, bad := range []string{"database is locked", "SQLITE_BUSY", `"level":"ERROR"`, `"status":5`} {
		if strings.Contains(logs, bad) {
			t.Errorf("logs hold %q:\n%.3000s", bad, logs)
		}
	}
}
