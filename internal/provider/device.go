package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/clients"
)

// The device authorization grant (RFC 8628), for a CLI, a TV or an agent
// without a browser of its own. The device asks /oauth2/device_authorization
// for a device code and a user code; the user opens OP_DEVICE_URL on another
// screen, signed in to keel, enters the user code, sees which client asks
// for what (DeviceRequest) and approves or denies it (AnswerDevice). The
// device polls the token endpoint meanwhile: authorization_pending while
// the user has not answered, slow_down when it polls sooner than its
// interval (which then grows by 5 s), expired_token after OP_DEVICE_CODE_TTL,
// access_denied when denied, and the tokens once approved. Approving starts
// a grant (a keel session for the client), as accepting the login step
// does.

// The defaults of the device grant's bounds when Config leaves them zero.
const (
	DefaultDeviceCodeTTL  = 10 * time.Minute
	DefaultDeviceInterval = 5 * time.Second
)

// userCodeAlphabet is RFC 8628 §6.1's base-20 set: consonants only, no
// vowels (no words) and none that look alike.
const userCodeAlphabet = op.CharSetBase20

// NormalizeUserCode is the user code as stored: upper case, without the
// dashes and spaces a user may type; "" when it cannot be a user code.
func NormalizeUserCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(userCodeAlphabet, r):
			b.WriteRune(r)
		default:
			return ""
		}
	}
	if b.Len() != op.UserCodeBase20.CharAmount {
		return ""
	}
	return b.String()
}

// deviceURL is the verification_uri (OP_DEVICE_URL; a path is under the
// issuer).
func (p *Provider) deviceURL() string {
	u := p.cfg.DeviceURL
	if u == "" {
		u = PathDevice
	}
	if strings.HasPrefix(u, "/") {
		u = p.cfg.Issuer + u
	}
	return u
}

// checkDeviceScopes keeps, of the scopes a device asks for, those keel
// knows and the client is registered for, and refuses the request when
// none is left (invalid_scope). pkg/op checks no scope here, and would
// answer a storage error with a 500.
func (p *Provider) checkDeviceScopes(r *http.Request) *oidc.Error {
	if err := r.ParseForm(); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("the request is not a valid form")
	}
	id, _, ok := r.BasicAuth()
	if ok {
		id, _ = url.QueryUnescape(id)
	} else {
		id = r.Form.Get("client_id")
	}
	c, err := p.clients.GetClient(r.Context(), id)
	if err != nil {
		return nil // pkg/op answers an unknown client
	}
	scopes := slices.DeleteFunc(strings.Fields(r.Form.Get("scope")), func(s string) bool {
		return !slices.Contains(Scopes, s) || !slices.Contains(c.Scopes, s)
	})
	if len(scopes) == 0 && slices.Contains(c.GrantTypes, clients.GrantDeviceCode) {
		return oidc.ErrInvalidScope().WithDescription("none of the scopes asked for is the client's")
	}
	r.Form.Set("scope", strings.Join(scopes, " "))
	return nil
}

// StoreDeviceAuthorization implements op.DeviceAuthorizationStorage: both
// codes are kept as their SHA-256, for OP_DEVICE_CODE_TTL.
func (s *storage) StoreDeviceAuthorization(ctx context.Context, clientID, deviceCode, userCode string, _ time.Time, scopes []string) error {
	now := s.p.now()
	return s.p.devices.CreateDeviceCode(ctx, DeviceCode{
		DeviceHash: db.HashToken(deviceCode), UserHash: db.HashToken(NormalizeUserCode(userCode)), ClientID: clientID,
		Scopes: scopes, State: DevicePending, Interval: s.p.cfg.DeviceInterval,
		CreatedAt: now, ExpiresAt: now.Add(s.p.cfg.DeviceCodeTTL),
	})
}

// deviceGrant carries the grant of an approved device code from
// GetDeviceAuthorizatonState to the token's making: pkg/op hands its own
// DeviceAuthorizationState on, which has no room for the session.
type deviceGrant struct{ sid, acr string }

type deviceGrantKey struct{}

// withDeviceGrant gives a token request the room for its device grant.
func withDeviceGrant(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), deviceGrantKey{}, &deviceGrant{}))
}

func deviceGrantOf(ctx context.Context) *deviceGrant {
	g, _ := ctx.Value(deviceGrantKey{}).(*deviceGrant)
	if g == nil {
		return &deviceGrant{}
	}
	return g
}

// GetDeviceAuthorizatonState implements op.DeviceAuthorizationStorage: one
// poll of the device. Too soon after the last is context.DeadlineExceeded,
// which pkg/op answers slow_down. pkg/op reads expiry from the wall clock,
// so keel decides it on its own clock and tells pkg/op by Expires: zero
// when expired, far ahead when not.
func (s *storage) GetDeviceAuthorizatonState(ctx context.Context, clientID, deviceCode string) (*op.DeviceAuthorizationState, error) {
	now := s.p.now()
	c, err := s.p.devices.PollDeviceCode(ctx, db.HashToken(deviceCode), clientID, now)
	switch {
	case errors.Is(err, ErrSlowDown):
		return nil, context.DeadlineExceeded
	case errors.Is(err, ErrNoDeviceCode):
		return nil, errors.New("unknown device code, or another client's")
	case err != nil:
		return nil, err
	}
	st := &op.DeviceAuthorizationState{ClientID: c.ClientID, Scopes: c.Scopes, Expires: time.Now().Add(time.Hour)}
	if !now.Before(c.ExpiresAt) {
		st.Expires = time.Time{}
		if c.State == DeviceApproved {
			// Approved, but not fetched in time: the grant ends unused.
			s.p.endGrant(ctx, c.SessionID, "device code expired")
		}
		return st, nil
	}
	switch c.State {
	case DeviceDenied:
		st.Denied = true
	case DeviceApproved:
		st.Done, st.Subject, st.AMR, st.AuthTime = true, subject(c.UserID), strings.Fields(c.AMR), c.AuthTime
		g := deviceGrantOf(ctx)
		g.sid, g.acr = c.SessionID, c.ACR
	}
	return st, nil
}

// DeviceRequest is what the device page shows of a user code: the client
// that asks, for which scopes.
type DeviceRequest struct {
	ClientID   string
	ClientName string
	Unverified bool // the client registered itself (RFC 7591)
	Scopes     []string
	ExpiresAt  time.Time
}

// pendingDevice returns the pending, live device code of userCode.
func (p *Provider) pendingDevice(ctx context.Context, userCode string) (DeviceCode, string, error) {
	norm := NormalizeUserCode(userCode)
	if norm == "" {
		return DeviceCode{}, "", ErrNoDeviceCode
	}
	h := db.HashToken(norm)
	c, err := p.devices.DeviceCodeByUserCode(ctx, h)
	if err != nil {
		return DeviceCode{}, "", err
	}
	if c.State != DevicePending || !p.now().Before(c.ExpiresAt) {
		return DeviceCode{}, "", ErrNoDeviceCode
	}
	return c, h, nil
}

// DeviceRequest returns what the device page shows of userCode;
// ErrNoDeviceCode when it is unknown, expired or answered already.
func (p *Provider) DeviceRequest(ctx context.Context, userCode string) (DeviceRequest, error) {
	c, _, err := p.pendingDevice(ctx, userCode)
	if err != nil {
		return DeviceRequest{}, err
	}
	cl, err := p.clients.GetClient(ctx, c.ClientID)
	if errors.Is(err, clients.ErrNoClient) {
		return DeviceRequest{}, ErrNoDeviceCode // deleted since
	}
	if err != nil {
		return DeviceRequest{}, err
	}
	return DeviceRequest{ClientID: cl.ID, ClientName: cl.Name, Unverified: cl.Dynamic, Scopes: c.Scopes,
		ExpiresAt: c.ExpiresAt}, nil
}

// AnswerDevice approves or denies userCode for the caller. Approving starts
// the grant (a new keel session for the client, as Accept does) and
// remembers the user's consent; the device's next poll gets the tokens.
// ErrNoDeviceCode: unknown, expired or answered already.
func (p *Provider) AnswerDevice(ctx context.Context, userCode string, c Caller, approve bool) error {
	d, h, err := p.pendingDevice(ctx, userCode)
	if err != nil {
		return err
	}
	now := p.now()
	if !approve {
		return p.devices.DenyDeviceCode(ctx, h, now)
	}
	// A client deleted since gets no grant: deleting it ended its others.
	if _, err := p.clients.GetClient(ctx, d.ClientID); errors.Is(err, clients.ErrNoClient) {
		return ErrNoDeviceCode
	} else if err != nil {
		return err
	}
	sess, consent, err := p.newGrant(ctx, c, d.ClientID, d.Scopes, now)
	if err != nil {
		return err
	}
	if err := p.devices.ApproveDeviceCode(ctx, h, sess, c.AAL, now); err != nil {
		return err
	}
	return p.store.SaveConsent(ctx, c.UserID, d.ClientID, consent, now)
}

// serveDeviceAuthorization is /oauth2/device_authorization: keel's scope
// check, then pkg/op.
func (p *Provider) serveDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if err := p.checkDeviceScopes(r); err != nil {
		httphelper.MarshalJSONWithStatus(w, err, http.StatusBadRequest)
		return
	}
	p.op.ServeHTTP(w, r)
}
