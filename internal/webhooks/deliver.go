package webhooks

// One delivery attempt, and the rules around attempts: which secrets sign,
// how long to wait before the next attempt, when to give up.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Sealer seals secrets at rest and opens them (mfa.Keys: AES-256-GCM under
// MFA_KEY, or JWT_SECRET without it).
type Sealer interface {
	Seal(id string, secret []byte) []byte
	Open(id string, sealed []byte) ([]byte, error)
}

// sealID is what an endpoint's secret is sealed for: a secret copied to
// another endpoint's row does not open, nor does a TOTP secret.
func sealID(endpointID string) string { return "webhook " + endpointID }

// SealSecret seals the key bytes of endpointID's secret.
func SealSecret(s Sealer, endpointID string, key []byte) []byte {
	return s.Seal(sealID(endpointID), key)
}

// SigningKeys are the keys that sign a delivery to e at now: its secret,
// and the one a rotation replaced until the overlap ends.
func SigningKeys(s Sealer, e Endpoint, now time.Time) ([][]byte, error) {
	key, err := s.Open(sealID(e.ID), e.Secret)
	if err != nil {
		return nil, fmt.Errorf("webhooks: endpoint %s's secret: %w", e.ID, err)
	}
	keys := [][]byte{key}
	if e.PreviousSecret != nil && now.Before(e.PreviousUntil) {
		prev, err := s.Open(sealID(e.ID), e.PreviousSecret)
		if err != nil {
			return nil, fmt.Errorf("webhooks: endpoint %s's previous secret: %w", e.ID, err)
		}
		keys = append(keys, prev)
	}
	return keys, nil
}

// UserAgent is what deliveries say they are.
const UserAgent = "keel-webhooks/1"

// StatusError is an attempt answered with a status other than 2xx (a
// redirect among them: none is followed).
type StatusError struct{ Status int }

func (e StatusError) Error() string { return fmt.Sprintf("the endpoint answered %d", e.Status) }

// Send makes one attempt: it POSTs body to url, signed with keys, as
// message id at now. It returns the answer's status (0 for none) and an
// error unless the answer is 2xx. The error says what went wrong without
// any of the answer's body (which a hostile endpoint controls).
func Send(ctx context.Context, client *http.Client, url string, keys [][]byte, id string, now time.Time, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range Headers(keys, id, now, body) {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, attemptError(err)
	}
	// Drain a little so the connection can be reused; never more.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, StatusError{resp.StatusCode}
	}
	return resp.StatusCode, nil
}

// attemptError is what is kept of a failed connection: the SSRF refusal
// and timeouts by name, else the error without its URL.
func attemptError(err error) error {
	switch {
	case errors.Is(err, ErrRefusedAddress):
		return ErrRefusedAddress
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return errors.New("webhooks: the endpoint did not answer in time")
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap()
	}
	return err
}

// Backoff is the wait before attempt n+1 after n failed ones: first, then
// doubling, never more than an hour (nor less than first).
func Backoff(first time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return max(first, min(d, time.Hour))
}
