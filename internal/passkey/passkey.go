// Package passkey is keel's WebAuthn relying party: the settings that name
// it (RP ID, name, origins) and their checks, and the ceremonies
// (registration, discoverable sign-in, and the signed-in user's proof with
// one of their own passkeys) over github.com/go-webauthn/webauthn.
// It turns the library's credential records into db.Passkey and back; where
// a ceremony's state is kept (the database, so any replica may finish it)
// and what a sign-in starts are the server's.
package passkey

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/keelhq/keel/db"
)

// TTL is how long a ceremony's options may wait for their answer.
const TTL = 5 * time.Minute

var (
	// ErrRefused is an answer to a ceremony that does not verify: wrong
	// origin, RP ID hash, type, challenge or signature, an unknown
	// credential, a backup-eligible flag that changed, a malformed body.
	ErrRefused = errors.New("passkey: the credential was refused")
	// ErrSignCount is a sign-in whose signature counter is not above the
	// stored one (and not 0 with 0 stored): a cloned authenticator, or a
	// replay.
	ErrSignCount = errors.New("passkey: the signature counter went backwards")
)

// Config names the relying party: WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME and
// WEBAUTHN_ORIGINS. Passkeys are on when RPID is set.
type Config struct {
	RPID    string
	RPName  string
	Origins []string
}

// Enabled says whether the settings turn passkeys on.
func (c Config) Enabled() bool { return c.RPID != "" || len(c.Origins) > 0 }

// Validate checks that the settings fit together: an RP ID (a host name, no
// scheme, port or path), a name, and at least one origin, each an absolute
// http(s) origin (no path, query or fragment) whose host is the RP ID or one
// of its subdomains; plain http only on localhost, as browsers allow.
func (c Config) Validate() error {
	if c.RPID == "" || c.RPName == "" || len(c.Origins) == 0 {
		return errors.New("WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME and WEBAUTHN_ORIGINS are all needed to turn passkeys on")
	}
	id := c.RPID
	if strings.ContainsAny(id, ":/?#@ ") || id != strings.ToLower(id) || strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || net.ParseIP(id) != nil {
		return fmt.Errorf("WEBAUTHN_RP_ID %q must be a lower-case host name such as example.com, without scheme, port or path", id)
	}
	for _, o := range c.Origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("WEBAUTHN_ORIGINS: %q is not an absolute origin such as https://app.example.com", o)
		}
		host := u.Hostname()
		if host != id && !strings.HasSuffix(host, "."+id) {
			return fmt.Errorf("WEBAUTHN_ORIGINS: the host of %q is not WEBAUTHN_RP_ID %q or a subdomain of it", o, id)
		}
		if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
			return fmt.Errorf("WEBAUTHN_ORIGINS: %q uses http, which browsers allow for WebAuthn on localhost only", o)
		}
	}
	return nil
}

// RP is the relying party: it begins and finishes ceremonies.
type RP struct{ w *webauthn.WebAuthn }

// New checks c and returns its relying party.
func New(c Config) (*RP, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	origins := make([]string, len(c.Origins))
	for i, o := range c.Origins {
		origins[i] = strings.TrimSuffix(o, "/")
	}
	t := webauthn.TimeoutConfig{Timeout: TTL, TimeoutUVD: TTL}
	w, err := webauthn.New(&webauthn.Config{RPID: c.RPID, RPDisplayName: c.RPName, RPOrigins: origins,
		Timeouts: webauthn.TimeoutsConfig{Login: t, Registration: t}})
	if err != nil {
		return nil, fmt.Errorf("WEBAUTHN_*: %w", err)
	}
	return &RP{w: w}, nil
}

// HandleLen is the length of an account's WebAuthn user handle.
const HandleLen = 32

// NewHandle is a new account's WebAuthn user handle: 32 random bytes, made
// at its first passkey registration. It names the account to its
// authenticators, which return it at a discoverable sign-in, and says
// nothing else: not the email, nor the account id (a counter, which would
// tell how many accounts there are and be the same for the account on
// every authenticator and relying party it ever meets).
func NewHandle() []byte {
	b := make([]byte, HandleLen)
	rand.Read(b) // never fails (crypto/rand, since Go 1.24)
	return b
}

// LegacyHandle is the user handle keel gave before handles were random:
// the account id, 8 bytes big endian. The authenticators of passkeys
// registered then hold it, and it still finds their account
// (db.Store.PasskeyAccount), which keeps it for its later passkeys.
func LegacyHandle(userID int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(userID)) }

// user is an account as go-webauthn sees it: handle is its user handle.
type user struct {
	handle      []byte
	name        string
	credentials []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return u.handle }
func (u user) WebAuthnName() string                       { return u.name }
func (u user) WebAuthnDisplayName() string                { return u.name }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

// credential is the library's record of a stored passkey.
func credential(p db.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	var flags protocol.AuthenticatorFlags
	if p.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	return webauthn.Credential{ID: p.CredentialID, PublicKey: p.PublicKey, AttestationType: p.AttestationType,
		Transport: transports, Flags: webauthn.NewCredentialFlags(flags | protocol.FlagUserPresent),
		Authenticator: webauthn.Authenticator{AAGUID: p.AAGUID, SignCount: uint32(p.SignCount)}}
}

// BeginRegistration returns the options of a registration for the account
// whose user handle is handle (PublicKeyCredentialCreationOptions, as JSON: a
// resident key required, user verification preferred, no attestation, its
// passkeys excluded) and the session data to keep until FinishRegistration.
func (r *RP) BeginRegistration(handle []byte, name string, existing []db.Passkey) (options, session []byte, err error) {
	exclude := make([]protocol.CredentialDescriptor, len(existing))
	for i, p := range existing {
		c := credential(p)
		exclude[i] = c.Descriptor()
	}
	yes := true
	creation, sess, err := r.w.BeginRegistration(user{handle: handle, name: name},
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: &yes,
			UserVerification: protocol.VerificationPreferred}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation),
		webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, nil, err
	}
	return marshal(creation.Response, sess)
}

// FinishRegistration verifies the browser's answer (a PublicKeyCredential as
// JSON) to the registration whose session data is session, and returns the
// passkey to store (without its id, name and time), with the user handle
// the registration gave the authenticator (the session's).
func (r *RP) FinishRegistration(userID int64, name string, session, answer []byte) (db.Passkey, error) {
	var sess webauthn.SessionData
	if err := json.Unmarshal(session, &sess); err != nil {
		return db.Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		return db.Passkey{}, refused(err)
	}
	c, err := r.w.CreateCredential(user{handle: sess.UserID, name: name}, sess, parsed)
	if err != nil {
		return db.Passkey{}, refused(err)
	}
	transports := make([]string, len(c.Transport))
	for i, t := range c.Transport {
		transports[i] = string(t)
	}
	return db.Passkey{UserID: userID, CredentialID: c.ID, PublicKey: c.PublicKey, AttestationType: c.AttestationType,
		AAGUID: c.Authenticator.AAGUID, Transports: transports, SignCount: int64(c.Authenticator.SignCount),
		UserVerified: c.Flags.UserVerified, BackupEligible: c.Flags.BackupEligible, BackupState: c.Flags.BackupState,
		UserHandle: sess.UserID}, nil
}

// BeginLogin returns the options of a discoverable sign-in (no account
// named: the authenticator offers its passkeys for the RP ID; user
// verification preferred) and the session data to keep until FinishLogin.
func (r *RP) BeginLogin() (options, session []byte, err error) {
	assertion, sess, err := r.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, nil, err
	}
	return marshal(assertion.Response, sess)
}

// Assertion is a verified sign-in: the passkey as stored (Passkey, read by
// lookup) and what the sign-in observed, to store with db.Store.UsePasskey
// (with ErrSignCount: the passkey and the refused count, for the log).
type Assertion struct {
	Passkey      db.Passkey
	SignCount    int64
	UserVerified bool // this ceremony verified the user (the UV flag)
	BackupState  bool
}

// FinishLogin verifies the browser's answer (a PublicKeyCredential as JSON)
// to the sign-in whose session data is session. lookup finds the account by
// the user handle the authenticator returns, with its passkeys
// (db.ErrNoPasskey when none); the credential must be one of them. Errors
// are ErrRefused, ErrSignCount, or lookup's other errors.
func (r *RP) FinishLogin(session, answer []byte, lookup func(handle []byte) (int64, []db.Passkey, error)) (Assertion, error) {
	sess, parsed, err := parseAssertion(session, answer)
	if err != nil {
		return Assertion{}, err
	}
	var (
		stored    db.Passkey
		lookupErr error
	)
	handler := func(rawID, handle []byte) (webauthn.User, error) {
		var passkeys []db.Passkey
		if _, passkeys, lookupErr = lookup(handle); lookupErr != nil {
			return nil, lookupErr
		}
		i := slices.IndexFunc(passkeys, func(p db.Passkey) bool { return bytes.Equal(p.CredentialID, rawID) })
		if i < 0 {
			return nil, errors.New("the credential is not a passkey of the user handle's account")
		}
		stored = passkeys[i]
		return user{handle: handle, credentials: []webauthn.Credential{credential(stored)}}, nil
	}
	_, c, err := r.w.ValidatePasskeyLogin(handler, sess, parsed)
	switch {
	case lookupErr != nil && !errors.Is(lookupErr, db.ErrNoPasskey):
		return Assertion{}, lookupErr
	case err != nil:
		return Assertion{}, refused(err)
	case c.Authenticator.CloneWarning:
		return Assertion{Passkey: stored, SignCount: int64(parsed.Response.AuthenticatorData.Counter)}, ErrSignCount
	}
	return Assertion{Passkey: stored, SignCount: int64(c.Authenticator.SignCount),
		UserVerified: parsed.Response.AuthenticatorData.Flags.HasUserVerified(), BackupState: c.Flags.BackupState}, nil
}

// BeginReauth returns the options of an assertion that proves the account's
// user again (its passkeys listed in allowCredentials, user verification
// required: a passkey without it is one factor, no proof of the user) and the
// session data to keep until FinishReauth. handle is the account's user
// handle; the account must have a passkey.
func (r *RP) BeginReauth(handle []byte, name string, passkeys []db.Passkey) (options, session []byte, err error) {
	assertion, sess, err := r.w.BeginLogin(owner(handle, name, passkeys),
		webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, err
	}
	return marshal(assertion.Response, sess)
}

// FinishReauth verifies the browser's answer to the assertion BeginReauth
// began for the account, whose passkeys (read afresh) are passkeys: the
// credential must be one of them, listed in the options, and the
// authenticator must have verified the user, and a user handle it returns
// must be the one BeginReauth named. Errors are ErrRefused and
// ErrSignCount, as for FinishLogin.
func (r *RP) FinishReauth(name string, passkeys []db.Passkey, session, answer []byte) (Assertion, error) {
	sess, parsed, err := parseAssertion(session, answer)
	if err != nil {
		return Assertion{}, err
	}
	c, err := r.w.ValidateLogin(owner(sess.UserID, name, passkeys), sess, parsed)
	if err != nil {
		return Assertion{}, refused(err)
	}
	var stored db.Passkey
	for _, p := range passkeys {
		if bytes.Equal(p.CredentialID, c.ID) {
			stored = p
		}
	}
	switch {
	case c.Authenticator.CloneWarning:
		return Assertion{Passkey: stored, SignCount: int64(parsed.Response.AuthenticatorData.Counter)}, ErrSignCount
	case !parsed.Response.AuthenticatorData.Flags.HasUserVerified(): // the library's check too; this one says why
		return Assertion{}, fmt.Errorf("%w: the authenticator did not verify the user", ErrRefused)
	}
	return Assertion{Passkey: stored, SignCount: int64(c.Authenticator.SignCount), UserVerified: true,
		BackupState: c.Flags.BackupState}, nil
}

// parseAssertion reads a ceremony's kept session data and the browser's
// answer to it (a malformed answer is ErrRefused).
func parseAssertion(session, answer []byte) (webauthn.SessionData, *protocol.ParsedCredentialAssertionData, error) {
	var sess webauthn.SessionData
	if err := json.Unmarshal(session, &sess); err != nil {
		return sess, nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return sess, nil, refused(err)
	}
	return sess, parsed, nil
}

// owner is the account with its passkeys, as go-webauthn sees it.
func owner(handle []byte, name string, passkeys []db.Passkey) user {
	u := user{handle: handle, name: name, credentials: make([]webauthn.Credential, len(passkeys))}
	for i, p := range passkeys {
		u.credentials[i] = credential(p)
	}
	return u
}

// refused wraps a verification failure in ErrRefused, keeping the library's
// reason (its details, never a secret) for the log.
func refused(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return fmt.Errorf("%w: %s", ErrRefused, pe.Details)
	}
	return fmt.Errorf("%w: %v", ErrRefused, err)
}

func marshal(options any, session *webauthn.SessionData) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	s, err := json.Marshal(session)
	return o, s, err
}
