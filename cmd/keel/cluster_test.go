package main

// The cluster test: three keel processes (the real binary) on one PostgreSQL
// database, showing what replicas promise (docs/scaling.md). Skipped under
// -short; without PostgreSQL it skips or fails by pgtest's rules.

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/pquerna/otp/totp"

	"github.com/keelhq/keel/internal/contract"
	"github.com/keelhq/keel/internal/pgtest"
)

// clusterEnv is every replica's environment: one database, one JWT secret,
// a 6-a-minute auth limit, a 1 s job, and loopback as the trusted proxy so
// each subtest can speak as a client of its own through X-Forwarded-For.
func clusterEnv(dbURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":    dbURL,
		"JWT_SECRET":      testSecret,
		"KEYS_KEK":        testKEK,
		"BCRYPT_COST":     "4",
		"ADDR":            "127.0.0.1:0",
		"AUTH_RATE_LIMIT": "6",
		"JOB_INTERVAL":    "1s",
		"TRUSTED_PROXIES": "127.0.0.1",
		"DB_MAX_CONNS":    "8",
		// Passkeys, for the software authenticator of the passkey subtest.
		"WEBAUTHN_RP_ID":   "example.com",
		"WEBAUTHN_ORIGINS": "https://app.example.com",
	}
}

// forwardedFor is a RoundTripper that names the client in X-Forwarded-For,
// as a load balancer would.
type forwardedFor struct {
	ip   string
	base http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return f.base.RoundTrip(r)
}

// clientAs returns an HTTP client that speaks as the client ip (through the
// trusted loopback proxy) and checks every response against the spec.
func clientAs(t *testing.T, v *contract.Validator, ip string) *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &contract.Transport{V: v, Base: forwardedFor{ip, http.DefaultTransport}, Fail: t.Errorf},
	}
}

// waitListening waits for p's "listening" line and records its address.
func waitListening(p *proc, d time.Duration) error {
	re := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	deadline := time.After(d)
	for {
		if m := re.FindStringSubmatch(p.stdout.String()); m != nil {
			p.addr = m[1]
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("keel exited before listening: %v\nstdout:\n%.4000s\nstderr:\n%s", p.waitErr, p.stdout, p.stderr)
		case <-deadline:
			return fmt.Errorf("keel did not listen within %v\nstdout:\n%.4000s\nstderr:\n%s", d, p.stdout, p.stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// jobRuns is keel_job_runs_total{job="count-users"} on p (-1 when p is down).
func jobRuns(ctx context.Context, hc *http.Client, p *proc) float64 {
	return metric(ctx, hc, p, `keel_job_runs_total{job="count-users"}`)
}

// totalRuns sums jobRuns over the replicas that answer.
func totalRuns(ctx context.Context, hc *http.Client, ps []*proc) (sum float64, each []float64) {
	for _, p := range ps {
		n := jobRuns(ctx, hc, p)
		each = append(each, n)
		if n > 0 {
			sum += n
		}
	}
	return sum, each
}

// getProfile sends GET /profile with a bearer token.
func getProfile(ctx context.Context, hc *http.Client, p *proc, token string) (int, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", p.url("/profile"), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var b strings.Builder
	_, err = bufio.NewReader(res.Body).WriteTo(&b)
	return res.StatusCode, []byte(b.String()), err
}

// TestCluster: three replicas started at once on an empty PostgreSQL
// database, then the promises of docs/scaling.md one subtest each.
func TestCluster(t *testing.T) {
	t.Parallel()
	keelBinary(t) // skips under -short before PostgreSQL is started
	root := t
	dbURL := pgtest.NewDatabase(t)
	env := clusterEnv(dbURL)
	v, err := contract.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	metricsClient := &http.Client{Timeout: 2 * time.Second, Transport: &contract.Transport{V: v, Fail: t.Errorf}}

	// All three at once on the empty database: one migrates, the others wait
	// on the advisory lock; none may fail.
	var replicas []*proc
	for range 3 {
		replicas = append(replicas, launch(t, env))
	}
	for i, p := range replicas {
		if err := waitListening(p, startTimeout); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}

	t.Run("three at once on an empty database migrate once", func(t *testing.T) {
		conn, err := sql.Open("pgx", dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, q := range []string{
			`SELECT count(*) FROM (SELECT version_id FROM goose_db_version WHERE version_id > 0 GROUP BY version_id HAVING count(*) > 1) d`,
			`SELECT count(*) FROM (SELECT line, version FROM river_migration GROUP BY line, version HAVING count(*) > 1) d`,
		} {
			var dup int
			if err := conn.QueryRowContext(ctx, q).Scan(&dup); err != nil || dup != 0 {
				t.Errorf("%s: %d duplicated migrations (%v)", q, dup, err)
			}
		}
		for i, p := range replicas {
			if s := p.stderr.String(); s != "" {
				t.Errorf("replica %d stderr:\n%s", i, s)
			}
		}
	})

	// startedAt[i] is when replicas[i] was launched, once they are started
	// one after another.
	var startedAt []time.Time

	// token is ada's, issued by replica 1, for the restart subtest.
	var token string
	t.Run("register on one, log in on another, profile on a third", func(t *testing.T) {
		hc := clientAs(t, v, "192.0.2.1")
		code, body, err := post(ctx, hc, replicas[0].url("/register"), creds("ada@example.com", "password123"))
		if err != nil || code != http.StatusCreated {
			t.Fatalf("register on replica 0: %d %v %s", code, err, body)
		}
		var user struct{ ID int64 }
		json.Unmarshal(body, &user)
		code, body, err = post(ctx, hc, replicas[1].url("/login"), creds("ada@example.com", "password123"))
		if err != nil || code != http.StatusOK {
			t.Fatalf("login on replica 1: %d %v %s", code, err, body)
		}
		var login struct{ Token string }
		json.Unmarshal(body, &login)
		token = login.Token
		code, body, err = getProfile(ctx, hc, replicas[2], token)
		var prof struct {
			ID    int64
			Email string
		}
		json.Unmarshal(body, &prof)
		if err != nil || code != http.StatusOK || prof.ID != user.ID || prof.Email != "ada@example.com" {
			t.Fatalf("profile on replica 2: %d %v %s (registered id %d)", code, err, body, user.ID)
		}
	})

	// login logs grace in on replica i and returns her token pair.
	type pair struct {
		Token        string `json:"token"`
		RefreshToken string `json:"refresh_token"`
	}
	loginOn := func(t *testing.T, hc *http.Client, i int) pair {
		t.Helper()
		code, body, err := post(ctx, hc, replicas[i].url("/login"), creds("grace@example.com", "password123"))
		if err != nil || code != http.StatusOK {
			t.Fatalf("login on replica %d: %d %v %s", i, code, err, body)
		}
		var p pair
		json.Unmarshal(body, &p)
		return p
	}
	t.Run("logged out on one replica, refused at once on another", func(t *testing.T) {
		hc := clientAs(t, v, "192.0.2.10")
		if code, body, err := post(ctx, hc, replicas[0].url("/register"), creds("grace@example.com", "password123")); err != nil || code != http.StatusCreated {
			t.Fatalf("register: %d %v %s", code, err, body)
		}
		p := loginOn(t, hc, 0)
		if code, body, err := getProfile(ctx, hc, replicas[2], p.Token); err != nil || code != http.StatusOK {
			t.Fatalf("profile on replica 2 before logout: %d %v %s", code, err, body)
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", replicas[1].url("/logout"), nil)
		req.Header.Set("Authorization", "Bearer "+p.Token)
		res, err := hc.Do(req)
		if err != nil || res.StatusCode != http.StatusNoContent {
			t.Fatalf("logout on replica 1: %v %v", res, err)
		}
		res.Body.Close()
		// Replica 2 has verified this token's signature before (its cache):
		// the session check must still refuse it, at once.
		if code, body, err := getProfile(ctx, hc, replicas[2], p.Token); err != nil || code != http.StatusUnauthorized {
			t.Errorf("profile on replica 2 right after logout on replica 1: %d %v %s, want 401", code, err, body)
		}
	})
	t.Run("refresh on one replica, reuse the old token on another: the session ends everywhere", func(t *testing.T) {
		hc := clientAs(t, v, "192.0.2.11")
		old := loginOn(t, hc, 0)
		body, _ := json.Marshal(map[string]string{"refresh_token": old.RefreshToken})
		code, b, err := post(ctx, hc, replicas[0].url("/token/refresh"), string(body))
		if err != nil || code != http.StatusOK {
			t.Fatalf("refresh on replica 0: %d %v %s", code, err, b)
		}
		var fresh pair
		json.Unmarshal(b, &fresh)
		if code, b, err := post(ctx, hc, replicas[1].url("/token/refresh"), string(body)); err != nil || code != http.StatusUnauthorized {
			t.Fatalf("reuse of the spent refresh token on replica 1: %d %v %s, want 401", code, err, b)
		}
		for i := range replicas {
			if code, b, err := getProfile(ctx, hc, replicas[i], fresh.Token); err != nil || code != http.StatusUnauthorized {
				t.Errorf("replica %d still honours the session after reuse: %d %v %s", i, code, err, b)
			}
		}
		freshBody, _ := json.Marshal(map[string]string{"refresh_token": fresh.RefreshToken})
		if code, b, err := post(ctx, hc, replicas[2].url("/token/refresh"), string(freshBody)); err != nil || code != http.StatusUnauthorized {
			t.Errorf("the replacing refresh token on replica 2: %d %v %s, want 401", code, err, b)
		}
	})

	t.Run("same email at once through every replica: one 201, the rest 409", func(t *testing.T) {
		for round := range 3 {
			email := fmt.Sprintf("race%d@example.com", round)
			const n = 9 // three per replica, each from a client of its own (the rate limit is not the point here)
			codes := make(chan int, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				hc := clientAs(t, v, fmt.Sprintf("198.51.100.%d", round*n+i+1))
				wg.Go(func() {
					<-start
					code, body, err := post(ctx, hc, replicas[i%3].url("/register"), creds(email, "password123"))
					if err != nil {
						t.Errorf("register %s on replica %d: %v", email, i%3, err)
					} else if code >= 500 {
						t.Errorf("register %s on replica %d: %d %s", email, i%3, code, body)
					}
					codes <- code
				})
			}
			close(start)
			wg.Wait()
			close(codes)
			count := map[int]int{}
			for c := range codes {
				count[c]++
			}
			if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
				t.Errorf("%s registered %d times at once: statuses %v, want one 201 and %d 409", email, n, count, n-1)
			}
		}
	})

	t.Run("AUTH_RATE_LIMIT is the cluster's, not each replica's", func(t *testing.T) {
		hc := clientAs(t, v, "203.0.113.7")
		started := time.Now()
		passed, limited := 0, 0
		for i := range 18 {
			req, _ := http.NewRequestWithContext(ctx, "POST", replicas[i%3].url("/login"),
				strings.NewReader(creds("ada@example.com", "password123")))
			req.Header.Set("Content-Type", "application/json")
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			switch res.StatusCode {
			case http.StatusOK:
				passed++
			case http.StatusTooManyRequests:
				limited++
				if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
					t.Errorf("429 from replica %d with Retry-After %q", i%3, res.Header.Get("Retry-After"))
				}
			default:
				t.Errorf("login %d on replica %d: %d", i, i%3, res.StatusCode)
			}
		}
		// 6 a minute with a burst of 6: one more is earned every 10 s.
		allowed := 6 + int(time.Since(started)/(10*time.Second))
		if passed < 6 || passed > allowed {
			t.Errorf("%d of 18 logins from one client across 3 replicas got through, want 6 (≤ %d)", passed, allowed)
		}
		t.Logf("%d passed, %d refused with 429 in %v", passed, limited, time.Since(started).Round(time.Millisecond))
		// Another client is not affected.
		code, body, err := post(ctx, clientAs(t, v, "203.0.113.8"), replicas[0].url("/login"), creds("ada@example.com", "password123"))
		if err != nil || code != http.StatusOK {
			t.Errorf("another client's login: %d %v %s", code, err, body)
		}
	})

	t.Run("a TOTP code works once across replicas; the code limit is the cluster's", func(t *testing.T) {
		hc := clientAs(t, v, "192.0.2.20")
		bearerPost := func(i int, path, token, body string) (int, []byte) {
			t.Helper()
			return postOn(ctx, t, hc, replicas[i], path, token, body)
		}
		login := func(i int, email string) string {
			t.Helper()
			code, body, err := post(ctx, hc, replicas[i].url("/login"), creds(email, "password123"))
			if err != nil || code != http.StatusOK {
				t.Fatalf("login %s on replica %d: %d %v %s", email, i, code, err, body)
			}
			var p pair
			json.Unmarshal(body, &p)
			return p.Token
		}
		codeBody := func(secret string, at time.Time) string {
			code, err := totp.GenerateCode(secret, at)
			if err != nil {
				t.Fatal(err)
			}
			return `{"code":"` + code + `"}`
		}
		// enrolled registers email on replica 0, enrols a factor on replica 1
		// and verifies it on replica 2; it returns the secret.
		enrolled := func(email string) string {
			t.Helper()
			if code, body, err := post(ctx, hc, replicas[0].url("/register"), creds(email, "password123")); err != nil || code != http.StatusCreated {
				t.Fatalf("register %s: %d %v %s", email, code, err, body)
			}
			tok := login(0, email)
			verifyEmail(ctx, t, hc, replicas, email, tok)
			code, body := bearerPost(1, "/mfa/totp", tok, "")
			var e struct{ ID, Secret string }
			if json.Unmarshal(body, &e); code != http.StatusCreated {
				t.Fatalf("enrol on replica 1: %d %s", code, body)
			}
			if code, body := bearerPost(2, "/mfa/totp/"+e.ID+"/verify", tok, codeBody(e.Secret, time.Now())); code != http.StatusOK {
				t.Fatalf("verify the factor on replica 2: %d %s", code, body)
			}
			return e.Secret
		}

		secret := enrolled("totp@example.com")
		// The next step's code: never the step the enrolment used, and
		// accepted (one step of skew) until the step after it ends.
		body := codeBody(secret, time.Now().Add(30*time.Second))
		toks := []string{login(0, "totp@example.com"), login(1, "totp@example.com")}
		statuses := make([]int, 2)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Go(func() {
				<-start
				statuses[i], _ = bearerPost(i, "/mfa/verify", toks[i], body)
			})
		}
		close(start)
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{http.StatusOK, http.StatusBadRequest}) {
			t.Errorf("one code on replicas 0 and 1 at once: %v, want one 200 and one 400", statuses)
		}
		if code, b := bearerPost(2, "/mfa/verify", login(2, "totp@example.com"), body); code != http.StatusBadRequest {
			t.Errorf("the code again on replica 2: %d %s, want 400", code, b)
		}

		// Five wrong codes a minute for one account, whichever replica takes
		// them (from another client address: AUTH_RATE_LIMIT counts logins);
		// the enrolment's right code counts for none.
		hc = clientAs(t, v, "192.0.2.21")
		enrolled("limit@example.com")
		tok := login(1, "limit@example.com")
		for i := range 5 {
			if code, b := bearerPost(i%3, "/mfa/verify", tok, `{"code":"000000"}`); code != http.StatusBadRequest {
				t.Errorf("wrong code %d on replica %d: %d %s, want 400", i+1, i%3, code, b)
			}
		}
		for i := range 3 {
			if code, b := bearerPost(i, "/mfa/verify", tok, `{"code":"000000"}`); code != http.StatusTooManyRequests {
				t.Errorf("a code on replica %d after five for the account: %d %s, want 429", i, code, b)
			}
		}
	})

	t.Run("a passkey ceremony begun on one replica finishes on another, once", func(t *testing.T) {
		hc := clientAs(t, v, "192.0.2.30")
		rp := virtualwebauthn.RelyingParty{ID: "example.com", Name: "keel", Origin: "https://app.example.com"}
		call := func(i int, path, token, body string) (int, []byte) {
			t.Helper()
			return postOn(ctx, t, hc, replicas[i], path, token, body)
		}
		type options struct {
			FlowID  string          `json:"flow_id"`
			Options json.RawMessage `json:"options"`
		}
		optionsOn := func(i int, path, token string) options {
			t.Helper()
			code, body := call(i, path, token, "")
			var o options
			if json.Unmarshal(body, &o); code != http.StatusOK {
				t.Fatalf("POST %s on replica %d: %d %s", path, i, code, body)
			}
			return o
		}
		if code, body, err := post(ctx, hc, replicas[0].url("/register"), creds("passkey@example.com", "password123")); err != nil || code != http.StatusCreated {
			t.Fatalf("register: %d %v %s", code, err, body)
		}
		code, body, err := post(ctx, hc, replicas[0].url("/login"), creds("passkey@example.com", "password123"))
		var p pair
		if json.Unmarshal(body, &p); err != nil || code != http.StatusOK {
			t.Fatalf("login: %d %v %s", code, err, body)
		}
		verifyEmail(ctx, t, hc, replicas, "passkey@example.com", p.Token)

		// Registration: options on replica 0, the answer on replica 1.
		auth := virtualwebauthn.NewAuthenticator()
		cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		for len(cred.Key.AttestationData()) != 77 { // a coordinate with a leading zero byte, which virtualwebauthn drops
			cred = virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		}
		reg := optionsOn(0, "/passkeys/register/options", p.Token)
		ao, err := virtualwebauthn.ParseAttestationOptions(string(reg.Options))
		if err != nil {
			t.Fatal(err)
		}
		auth.Options.UserHandle = []byte(ao.UserID)
		answer := virtualwebauthn.CreateAttestationResponse(rp, auth, cred, *ao)
		regBody := fmt.Sprintf(`{"flow_id":%q,"name":"phone","credential":%s}`, reg.FlowID, answer)
		if code, body := call(1, "/passkeys/register", p.Token, regBody); code != http.StatusCreated {
			t.Fatalf("finish the registration begun on replica 0 on replica 1: %d %s", code, body)
		}
		if code, body := call(2, "/passkeys/register", p.Token, regBody); code != http.StatusBadRequest {
			t.Errorf("the registration's flow again on replica 2: %d %s, want 400", code, body)
		}

		// Sign-in: options on replica 2, the answer on replica 0, then the
		// same flow again on replica 1.
		login := optionsOn(2, "/passkeys/login/options", "")
		lo, err := virtualwebauthn.ParseAssertionOptions(string(login.Options))
		if err != nil {
			t.Fatal(err)
		}
		cred.Counter++
		loginBody := fmt.Sprintf(`{"flow_id":%q,"credential":%s}`, login.FlowID, virtualwebauthn.CreateAssertionResponse(rp, auth, cred, *lo))
		code, body = call(0, "/passkeys/login", "", loginBody)
		var signedIn pair
		if json.Unmarshal(body, &signedIn); code != http.StatusOK {
			t.Fatalf("finish the sign-in begun on replica 2 on replica 0: %d %s", code, body)
		}
		if code, body, err := getProfile(ctx, hc, replicas[1], signedIn.Token); err != nil || code != http.StatusOK {
			t.Errorf("GET /profile on replica 1 with the passkey's token: %d %v %s", code, err, body)
		}
		if code, body := call(1, "/passkeys/login", "", loginBody); code != http.StatusBadRequest {
			t.Errorf("the sign-in's flow again on replica 1: %d %s, want 400", code, body)
		}
	})

	t.Run("the job runs once per tick for the whole cluster", func(t *testing.T) {
		// Wait for the first run (leader elected, periodic job inserted).
		deadline := time.Now().Add(20 * time.Second)
		for sum, _ := totalRuns(ctx, metricsClient, replicas); sum == 0; sum, _ = totalRuns(ctx, metricsClient, replicas) {
			if time.Now().After(deadline) {
				t.Fatal("count-users did not run on any replica within 20 s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		const window = 6 * time.Second
		before, each0 := totalRuns(ctx, metricsClient, replicas)
		time.Sleep(window)
		after, each1 := totalRuns(ctx, metricsClient, replicas)
		runs := after - before
		t.Logf("%v runs in %v (per replica %v → %v)", runs, window, each0, each1)
		// About one a second; three a second would be each replica on its own.
		if runs < 3 || runs > 9 {
			t.Errorf("%v runs of a 1 s job across 3 replicas in %v, want about 6", runs, window)
		}
	})

	t.Run("tokens stay valid after every replica restarts", func(t *testing.T) {
		if token == "" {
			t.Skip("no token: the cross-replica subtest failed")
		}
		for _, p := range replicas { // all at once: their graceful stops overlap
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		for i, p := range replicas {
			if code := p.wait(20 * time.Second); code != 0 {
				t.Errorf("replica %d exited %d after SIGTERM\nstderr:\n%s", i, code, p.stderr)
			}
		}
		// One after another, so each River client's start time (in its
		// leader id) tells which process it is.
		replicas, startedAt = replicas[:0], startedAt[:0]
		for i := range 3 {
			startedAt = append(startedAt, time.Now().UTC())
			p := launch(root, env) // the replicas outlive this subtest
			if err := waitListening(p, startTimeout); err != nil {
				t.Fatalf("restart %d: %v", i, err)
			}
			replicas = append(replicas, p)
			time.Sleep(50 * time.Millisecond)
		}
		hc := clientAs(t, v, "192.0.2.2")
		for i, p := range replicas {
			code, body, err := getProfile(ctx, hc, p, token)
			if err != nil || code != http.StatusOK || !strings.Contains(string(body), "ada@example.com") {
				t.Errorf("profile on restarted replica %d with the old token: %d %v %s", i, code, err, body)
			}
		}
	})

	t.Run("the job survives SIGKILL of the leader", func(t *testing.T) {
		conn, err := sql.Open("pgx", dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// The leader's id ends in its River client's start time.
		var leaderID string
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := conn.QueryRowContext(ctx, `SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&leaderID)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no River leader within 20 s: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		const layout = "2006_01_02T15_04_05.000000" // River's, with the dot as _
		if len(leaderID) < len(layout) {
			t.Fatalf("leader id %q does not end in a start time", leaderID)
		}
		stamp := []byte(leaderID[len(leaderID)-len(layout):])
		stamp[len(stamp)-7] = '.'
		at, err := time.Parse(layout, string(stamp))
		if err != nil {
			t.Fatalf("leader id %q: %v", leaderID, err)
		}
		leader := -1
		for i, s := range startedAt {
			if !at.Before(s) {
				leader = i
			}
		}
		if leader < 0 || len(startedAt) != len(replicas) {
			t.Fatalf("leader %q started before any replica (%v)", leaderID, startedAt)
		}
		var survivors []*proc
		for i, p := range replicas {
			if i != leader {
				survivors = append(survivors, p)
			}
		}
		// The job runs before the kill.
		deadline = time.Now().Add(15 * time.Second)
		for sum, _ := totalRuns(ctx, metricsClient, replicas); sum == 0; sum, _ = totalRuns(ctx, metricsClient, replicas) {
			if time.Now().After(deadline) {
				for i, p := range replicas {
					t.Logf("replica %d (started %v) stdout:\n%s", i, startedAt[i], grepNot(p.stdout.String(), `"msg":"request"`))
				}
				t.Fatalf("count-users did not run on the restarted cluster within 15 s\n%s", riverState(ctx, conn))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := replicas[leader].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		replicas[leader].wait(5 * time.Second)
		killed := time.Now()
		base, _ := totalRuns(ctx, metricsClient, survivors)
		// River's leader TTL is about 15 s: the survivors elect a new leader
		// and the runs resume well within 30 s.
		var resumed time.Duration
		for resumed == 0 {
			time.Sleep(200 * time.Millisecond)
			if now, _ := totalRuns(ctx, metricsClient, survivors); now >= base+2 {
				resumed = time.Since(killed)
			} else if time.Since(killed) > 30*time.Second {
				t.Fatalf("count-users did not run twice on the survivors within 30 s of killing the leader (replica %d, %s)\n%s", leader, leaderID, riverState(ctx, conn))
			}
		}
		const window = 3 * time.Second
		before, _ := totalRuns(ctx, metricsClient, survivors)
		time.Sleep(window)
		after, each := totalRuns(ctx, metricsClient, survivors)
		t.Logf("killed leader replica %d (%s); runs resumed after %v; then %v runs in %v (survivors at %v)",
			leader, leaderID, resumed.Round(100*time.Millisecond), after-before, window, each)
		if runs := after - before; runs < 1 || runs > 5 {
			t.Errorf("%v runs of a 1 s job across the two survivors in %v, want about 3", runs, window)
		}
	})
}

// riverState describes River's jobs and leader, for failure messages.
func riverState(ctx context.Context, conn *sql.DB) string {
	var b strings.Builder
	rows, err := conn.QueryContext(ctx, `SELECT id, kind, state, attempt, coalesce(array_to_string(attempted_by, ','), ''), scheduled_at, coalesce(attempted_at::text, '') FROM river_job ORDER BY id DESC LIMIT 5`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	for rows.Next() {
		var id, attempt int64
		var kind, state, by, attempted string
		var at time.Time
		rows.Scan(&id, &kind, &state, &attempt, &by, &at, &attempted)
		fmt.Fprintf(&b, "job %d %s %s attempt %d by %s scheduled %v attempted %s\n", id, kind, state, attempt, by, at, attempted)
	}
	var leader string
	var expires time.Time
	err = conn.QueryRowContext(ctx, `SELECT leader_id, expires_at FROM river_leader`).Scan(&leader, &expires)
	fmt.Fprintf(&b, "leader %s until %v (%v); now %v\n", leader, expires, err, time.Now().UTC())
	acts, err := conn.QueryContext(ctx, `SELECT client_port, coalesce(state, ''), coalesce(wait_event_type, ''), coalesce(wait_event, ''), left(query, 120) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err == nil {
		defer acts.Close()
		for acts.Next() {
			var port int
			var st, wt, we, q string
			acts.Scan(&port, &st, &wt, &we, &q)
			fmt.Fprintf(&b, "conn %d %s %s %s %q\n", port, st, wt, we, q)
		}
	}
	return b.String()
}

func grepNot(s, not string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, not) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// postOn sends POST path to replica r with body (as JSON when not empty) and
// a bearer token when not empty, and returns the status and the body.
func postOn(ctx context.Context, t *testing.T, hc *http.Client, r *proc, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", r.url(path), strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s on %s: %v", path, r.url(""), err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("POST %s on %s: reading the answer: %v", path, r.url(""), err)
	}
	return res.StatusCode, b
}
