// Command goclient shows keel's generated Go SDK (github.com/keelhq/keel/gen/client)
// against a running server: it registers a new account, logs in, reads the
// profile and the session list with the bearer token, refreshes the pair,
// logs out, shows that reuse of a spent refresh token ends a session, then
// proves the address with the token of the verification mail (read from
// keel's log, where the console mailer writes mails when SMTP_URL is unset)
// and adds a second factor: enrols TOTP, confirms it with a code computed from the
// secret (as an authenticator app would), logs in again at aal1 (403 until the
// second factor) and raises that session with POST /mfa/verify, printing each
// answer. Then the app's half of a sign-in with an OpenID Connect provider: a
// PKCE pair, the authorize URL, and the code exchange (against a keel without
// OIDC_PROVIDERS, so the answers are its 404 and 400).
//
//	go run ./examples/goclient                       # http://localhost:8080, a random email
//	go run ./examples/goclient -url http://127.0.0.1:9000 -email ada@example.com
//	go run ./examples/goclient -mail-log keel.log         # also the second factor
//
// It exits non-zero when an answer is not the one the spec promises.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

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
	mailLog := fs.String("mail-log", "", "keel's log file, where its console mailer writes the verification mail "+
		"(a second factor needs a verified address; without it that part is skipped)")
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
	fmt.Fprintf(out, "POST /login    %d token_type=%s expires_in=%ds refresh_expires_in=%ds token=%s\n",
		login.StatusCode(), tok.TokenType, tok.ExpiresIn, tok.RefreshExpiresIn, short(tok.Token))
	if tok.RefreshToken == "" || tok.RefreshExpiresIn <= 0 {
		return errors.New("POST /login: no refresh token")
	}

	prof, err := c.GetProfileWithResponse(ctx, bearer(tok.Token))
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

	if err := lifecycle(ctx, c, tok, out); err != nil {
		return err
	}
	if err := reuse(ctx, c, client.LoginRequest{Email: client.Email(*email), Password: *password}, out); err != nil {
		return err
	}
	if *mailLog == "" {
		fmt.Fprintln(out, "second factor skipped: it needs a verified address (pass -mail-log)")
	} else if err := secondFactor(ctx, c, client.LoginRequest{Email: client.Email(*email), Password: *password}, *mailLog, out); err != nil {
		return err
	}
	if err := signInWithProvider(ctx, c, *baseURL, out); err != nil {
		return err
	}
	fmt.Fprintln(out, "ok")
	return nil
}

// lifecycle lists the session, refreshes the pair, uses the new access token
// and logs out; then both tokens of the pair are refused.
func lifecycle(ctx context.Context, c *client.ClientWithResponses, tok *client.Token, out io.Writer) error {
	list, err := c.ListSessionsWithResponse(ctx, bearer(tok.Token))
	if err != nil {
		return err
	}
	if list.JSON200 == nil {
		return unexpected("GET /sessions", list.StatusCode(), list.Body)
	}
	var current *client.Session
	for i, s := range *list.JSON200 {
		if s.Current {
			current = &(*list.JSON200)[i]
		}
	}
	if current == nil {
		return fmt.Errorf("GET /sessions: no session is marked current: %s", list.Body)
	}
	fmt.Fprintf(out, "GET /sessions  %d %d live, current id=%s user_agent=%q\n", list.StatusCode(), len(*list.JSON200), current.ID, current.UserAgent)

	ref, err := c.RefreshTokenWithResponse(ctx, client.RefreshRequest{RefreshToken: tok.RefreshToken})
	if err != nil {
		return err
	}
	if ref.JSON200 == nil {
		return unexpected("POST /token/refresh", ref.StatusCode(), ref.Body)
	}
	next := ref.JSON200
	if next.RefreshToken == tok.RefreshToken || next.Token == "" {
		return errors.New("POST /token/refresh: the refresh token did not rotate")
	}
	fmt.Fprintf(out, "POST /token/refresh %d a new pair, token=%s\n", ref.StatusCode(), short(next.Token))

	prof, err := c.GetProfileWithResponse(ctx, bearer(next.Token))
	if err != nil {
		return err
	}
	if prof.JSON200 == nil {
		return unexpected("GET /profile with the refreshed token", prof.StatusCode(), prof.Body)
	}
	fmt.Fprintf(out, "GET /profile   %d (refreshed token) email_verified=%t\n", prof.StatusCode(), prof.JSON200.EmailVerified)

	bye, err := c.LogoutWithResponse(ctx, bearer(next.Token))
	if err != nil {
		return err
	}
	if bye.StatusCode() != http.StatusNoContent {
		return unexpected("POST /logout", bye.StatusCode(), bye.Body)
	}
	fmt.Fprintf(out, "POST /logout   %d\n", bye.StatusCode())

	after, err := c.GetProfileWithResponse(ctx, bearer(next.Token))
	if err != nil {
		return err
	}
	if after.ApplicationProblemJSON401 == nil {
		return unexpected("GET /profile after logout", after.StatusCode(), after.Body)
	}
	fmt.Fprintf(out, "GET /profile   %d (after logout)\n", after.StatusCode())
	for _, rt := range []string{next.RefreshToken, tok.RefreshToken} {
		r, err := c.RefreshTokenWithResponse(ctx, client.RefreshRequest{RefreshToken: rt})
		if err != nil {
			return err
		}
		if r.ApplicationProblemJSON401 == nil {
			return unexpected("POST /token/refresh after logout", r.StatusCode(), r.Body)
		}
	}
	fmt.Fprintln(out, "POST /token/refresh 401 (after logout, both refresh tokens)")
	return nil
}

// reuse starts a session, refreshes it and presents the spent refresh token
// again: keel answers 401 and ends the session, so the new pair is refused too.
func reuse(ctx context.Context, c *client.ClientWithResponses, creds client.LoginRequest, out io.Writer) error {
	login, err := c.LoginWithResponse(ctx, creds)
	if err != nil {
		return err
	}
	if login.JSON200 == nil {
		return unexpected("POST /login", login.StatusCode(), login.Body)
	}
	first := login.JSON200
	ref, err := c.RefreshTokenWithResponse(ctx, client.RefreshRequest{RefreshToken: first.RefreshToken})
	if err != nil {
		return err
	}
	if ref.JSON200 == nil {
		return unexpected("POST /token/refresh", ref.StatusCode(), ref.Body)
	}
	again, err := c.RefreshTokenWithResponse(ctx, client.RefreshRequest{RefreshToken: first.RefreshToken})
	if err != nil {
		return err
	}
	if again.ApplicationProblemJSON401 == nil {
		return unexpected("POST /token/refresh with a spent token", again.StatusCode(), again.Body)
	}
	fmt.Fprintf(out, "POST /token/refresh %d (spent token: reuse detected, the session ends)\n", again.StatusCode())
	prof, err := c.GetProfileWithResponse(ctx, bearer(ref.JSON200.Token))
	if err != nil {
		return err
	}
	if prof.ApplicationProblemJSON401 == nil {
		return unexpected("GET /profile after reuse detection", prof.StatusCode(), prof.Body)
	}
	fmt.Fprintf(out, "GET /profile   %d (the newer access token, after reuse)\n", prof.StatusCode())
	return nil
}

// signInWithProvider is the app's half of a sign-in with an OpenID Connect
// provider: make a PKCE pair, send the browser to keel's authorize URL with the
// challenge, and, on the redirect_to page, exchange the code keel put there,
// with the verifier, for a token pair (POST /oauth/token). This keel has no
// provider named "nosuchprovider", so the URL answers 404 instead of a 302 to
// the provider, and a made-up code gets 400.
func signInWithProvider(ctx context.Context, c *client.ClientWithResponses, baseURL string, out io.Writer) error {
	// RFC 7636 S256: 32 random bytes as base64url (43 characters), and the
	// base64url SHA-256 of that. Keep the verifier; send the challenge.
	verifier := oauth2.GenerateVerifier()
	challenge := oauth2.S256ChallengeFromVerifier(verifier)
	fmt.Fprintf(out, "PKCE pair      verifier=%s challenge=%s\n", short(verifier), short(challenge))

	// The authorize URL is for a browser to navigate to; the generated
	// request builder makes it, escaping the provider and the query.
	params := &client.OauthAuthorizeParams{
		RedirectTo:          "https://app.example.com/signed-in", // one of keel's OAUTH_REDIRECT_URLS
		CodeChallenge:       challenge,
		CodeChallengeMethod: client.S256,
	}
	req, err := client.NewOauthAuthorizeRequest(baseURL, "nosuchprovider", params)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "authorize URL  %s\n", req.URL)

	// keel answers the URL with a redirect to the provider: a client that
	// does not follow redirects sees it (here, a 404: no such provider).
	noRedirects, err := client.NewClientWithResponses(baseURL, client.WithHTTPClient(&http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}))
	if err != nil {
		return err
	}
	auth, err := noRedirects.OauthAuthorizeWithResponse(ctx, "nosuchprovider", params)
	if err != nil {
		return err
	}
	if auth.ApplicationProblemJSON404 == nil {
		return unexpected("GET /oauth/nosuchprovider/authorize", auth.StatusCode(), auth.Body)
	}
	fmt.Fprintf(out, "GET /oauth/nosuchprovider/authorize %d title=%q\n", auth.StatusCode(), auth.ApplicationProblemJSON404.Title)

	// On the redirect_to page: ?code=… (or ?error=…&error_description=…).
	// A code works once, for a minute, and only with its challenge's verifier.
	tok, err := c.OauthTokenWithResponse(ctx, client.OAuthTokenRequest{Code: "not-a-code-keel-gave", CodeVerifier: verifier})
	if err != nil {
		return err
	}
	if tok.ApplicationProblemJSON400 == nil {
		return unexpected("POST /oauth/token with a made-up code", tok.StatusCode(), tok.Body)
	}
	// With the code keel gave, tok.JSON200 is a pair like POST /login's.
	fmt.Fprintf(out, "POST /oauth/token %d (made-up code) title=%q\n", tok.StatusCode(), tok.ApplicationProblemJSON400.Title)
	return nil
}

// secondFactor proves the address (a factor needs it), enrols a TOTP factor
// and confirms it (the session becomes aal2), then logs in again: that
// session is aal1, refused with 403 mfa-required until POST /mfa/verify with
// a code, after which it is aal2.
func secondFactor(ctx context.Context, c *client.ClientWithResponses, creds client.LoginRequest, mailLog string, out io.Writer) error {
	login, err := c.LoginWithResponse(ctx, creds)
	if err != nil {
		return err
	}
	if login.JSON200 == nil {
		return unexpected("POST /login", login.StatusCode(), login.Body)
	}
	if err := verifyEmail(ctx, c, string(creds.Email), login.JSON200.Token, mailLog, out); err != nil {
		return err
	}
	enrol, err := c.EnrollTOTPWithResponse(ctx, bearer(login.JSON200.Token))
	if err != nil {
		return err
	}
	if enrol.JSON201 == nil {
		return unexpected("POST /mfa/totp", enrol.StatusCode(), enrol.Body)
	}
	e := enrol.JSON201
	fmt.Fprintf(out, "POST /mfa/totp %d id=%s otpauth_uri=%s…\n", enrol.StatusCode(), e.ID, e.OtpauthURI[:min(40, len(e.OtpauthURI))])
	usedAt := time.Now()
	code, err := totp.GenerateCode(e.Secret, usedAt)
	if err != nil {
		return err
	}
	conf, err := c.VerifyTOTPFactorWithResponse(ctx, e.ID, client.CodeRequest{Code: code}, bearer(login.JSON200.Token))
	if err != nil {
		return err
	}
	if conf.JSON200 == nil || len(conf.JSON200.RecoveryCodes) != 10 {
		return unexpected("POST /mfa/totp/{id}/verify", conf.StatusCode(), conf.Body)
	}
	fmt.Fprintf(out, "POST /mfa/totp/{id}/verify %d %d recovery codes; this session is aal2\n", conf.StatusCode(), len(conf.JSON200.RecoveryCodes))

	second, err := c.LoginWithResponse(ctx, creds)
	if err != nil {
		return err
	}
	if second.JSON200 == nil {
		return unexpected("POST /login", second.StatusCode(), second.Body)
	}
	denied, err := c.GetProfileWithResponse(ctx, bearer(second.JSON200.Token))
	if err != nil {
		return err
	}
	if denied.ApplicationProblemJSON403 == nil || denied.ApplicationProblemJSON403.Type != "urn:keel:problem:mfa-required" {
		return unexpected("GET /profile at aal1", denied.StatusCode(), denied.Body)
	}
	fmt.Fprintf(out, "GET /profile   %d (a new login, aal1) type=%s\n", denied.StatusCode(), denied.ApplicationProblemJSON403.Type)

	// The next step's code: the enrolment spent this one's, and one step of
	// clock skew is accepted.
	next, err := totp.GenerateCode(e.Secret, usedAt.Add(30*time.Second))
	if err != nil {
		return err
	}
	up, err := c.VerifyMFAWithResponse(ctx, client.MFAVerifyRequest{Code: &next}, bearer(second.JSON200.Token))
	if err != nil {
		return err
	}
	if up.JSON200 == nil {
		return unexpected("POST /mfa/verify", up.StatusCode(), up.Body)
	}
	fmt.Fprintf(out, "POST /mfa/verify %d a new pair for the same session, token=%s\n", up.StatusCode(), short(up.JSON200.Token))
	list, err := c.ListSessionsWithResponse(ctx, bearer(up.JSON200.Token))
	if err != nil {
		return err
	}
	if list.JSON200 == nil {
		return unexpected("GET /sessions at aal2", list.StatusCode(), list.Body)
	}
	for _, s := range *list.JSON200 {
		if s.Current && s.Aal != client.Aal2 {
			return fmt.Errorf("GET /sessions: the current session is %s after POST /mfa/verify", s.Aal)
		}
	}
	fmt.Fprintf(out, "GET /sessions  %d (the session is aal2 now)\n", list.StatusCode())
	return nil
}

// verifyEmail proves the address as its owner does: the token of the mail
// keel sent to it (here read from the console mailer's line in keel's log;
// a real app has the user follow the link) posted with the account's
// session. Until then TOTP, passkeys and linked providers answer 403
// urn:keel:problem:email-unverified.
func verifyEmail(ctx context.Context, c *client.ClientWithResponses, email, token, mailLog string, out io.Writer) error {
	var mailed string
	for range 100 {
		if mailed = tokenMailedTo(mailLog, email); mailed != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if mailed == "" {
		return fmt.Errorf("no verification mail to %s in %s", email, mailLog)
	}
	res, err := c.VerifyEmailWithResponse(ctx, client.VerifyEmailRequest{Token: mailed}, bearer(token))
	if err != nil {
		return err
	}
	if res.StatusCode() != http.StatusNoContent {
		return unexpected("POST /email/verify", res.StatusCode(), res.Body)
	}
	fmt.Fprintf(out, "POST /email/verify %d (the mailed token, from the account's session)\n", res.StatusCode())
	return nil
}

// tokenMailedTo is the token of the last verification mail to email in the
// console mailer's lines of the log file, or "".
func tokenMailedTo(logFile, email string) string {
	b, err := os.ReadFile(logFile)
	if err != nil {
		return ""
	}
	found := ""
	for _, line := range strings.Split(string(b), "\n") {
		var rec struct{ Msg, To, Subject, Text string }
		if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec.Msg, "email") || rec.To != email || !strings.Contains(rec.Subject, "Confirm") {
			continue
		}
		if m := mailedToken.FindStringSubmatch(rec.Text); m != nil {
			found = m[1]
		}
	}
	return found
}

var mailedToken = regexp.MustCompile(`token=([A-Za-z0-9_-]{43})`)

// bearer puts the token on a request: the generated client takes such
// RequestEditorFns on every call.
func bearer(token string) client.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

// short is the start of a secret, enough to tell two apart in the output.
func short(s string) string { return s[:min(16, len(s))] + "…" }

func unexpected(call string, status int, body []byte) error {
	return fmt.Errorf("%s: unexpected %d: %s", call, status, body)
}
