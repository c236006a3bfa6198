// Command goclient shows keel's generated Go SDK (github.com/keelhq/keel/gen/client)
// against a running server: it registers a new account, logs in and reads the
// profile with the bearer token, printing each answer.
//
//	go run ./examples/goclient                       # http://localhost:8080, a random email
//	go run ./examples/goclient -url http://127.0.0.1:9000 -email ada@example.com
//
// It exits non-zero when an answer is not the one the spec promises.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/keelhq/keel/gen/client"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("goclient", flag.ContinueOnError)
	baseURL := fs.String("url", "http://localhost:8080", "keel's base URL")
	email := fs.String("email", "", "email to register (default: a random one, so re-runs work)")
	password := fs.String("password", "correct horse battery", "password, 8 to 72 characters")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		*email = "go-" + hex.EncodeToString(b) + "@example.com"
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := client.NewClientWithResponses(*baseURL, client.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		return err
	}

	health, err := c.GetHealthWithResponse(ctx)
	if err != nil {
		return err
	}
	if health.JSON200 == nil {
		return unexpected("GET /", health.StatusCode(), health.Body)
	}
	fmt.Fprintf(out, "GET /          %d status=%s\n", health.StatusCode(), health.JSON200.Status)

	reg, err := c.RegisterWithResponse(ctx, client.RegisterRequest{Email: client.Email(*email), Password: *password})
	if err != nil {
		return err
	}
	u := reg.JSON201
	switch {
	case u != nil:
		fmt.Fprintf(out, "POST /register %d id=%d email=%s created_at=%s\n", reg.StatusCode(), u.ID, u.Email, u.CreatedAt.Format(time.RFC3339))
	case reg.ApplicationProblemJSON409 != nil:
		// The -email given is taken already: log in with it all the same.
		fmt.Fprintf(out, "POST /register %d (already registered) title=%q\n", reg.StatusCode(), reg.ApplicationProblemJSON409.Title)
	default:
		return unexpected("POST /register", reg.StatusCode(), reg.Body)
	}

	login, err := c.LoginWithResponse(ctx, client.LoginRequest{Email: client.Email(*email), Password: *password})
	if err != nil {
		return err
	}
	if login.JSON200 == nil {
		return unexpected("POST /login", login.StatusCode(), login.Body)
	}
	tok := login.JSON200
	fmt.Fprintf(out, "POST /login    %d token_type=%s expires_in=%ds token=%s…\n", login.StatusCode(), tok.TokenType, tok.ExpiresIn, tok.Token[:min(16, len(tok.Token))])

	// The token goes on each request through a RequestEditorFn.
	bearer := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		return nil
	}
	prof, err := c.GetProfileWithResponse(ctx, bearer)
	if err != nil {
		return err
	}
	if prof.JSON200 == nil {
		return unexpected("GET /profile", prof.StatusCode(), prof.Body)
	}
	p := prof.JSON200
	fmt.Fprintf(out, "GET /profile   %d id=%d email=%s\n", prof.StatusCode(), p.ID, p.Email)
	if u != nil && (p.ID != u.ID || p.Email != u.Email) {
		return errors.New("the profile is not the user that was registered")
	}

	// Without the token, the same call is a 401 problem (application/problem+json).
	anon, err := c.GetProfileWithResponse(ctx)
	if err != nil {
		return err
	}
	if anon.ApplicationProblemJSON401 == nil {
		return unexpected("GET /profile without a token", anon.StatusCode(), anon.Body)
	}
	fmt.Fprintf(out, "GET /profile   %d (no token) title=%q\n", anon.StatusCode(), anon.ApplicationProblemJSON401.Title)
	fmt.Fprintln(out, "ok")
	return nil
}

func unexpected(call string, status int, body []byte) error {
	return fmt.Errorf("%s: unexpected %d: %s", call, status, body)
}
