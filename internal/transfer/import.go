package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/validate"
)

// Bounds on a line: a longer line stops the import (the reader cannot
// find the next one without holding it all); the others refuse the line.
const (
	MaxLineBytes     = 1 << 20
	MaxMetadataBytes = 16 << 10
	maxIDLen         = 255 // external_id, passkey and factor ids, provider and subject
	maxHandleLen     = 64  // WebAuthn's bound on a user handle
	maxPasskeyName   = 64  // the API's PasskeyName
)

// MaxID is the largest id an import keeps: 2^53 - 1, the largest integer
// a JavaScript client reads exactly, and far enough below int64's end that
// the accounts after the import have ids to take (an id of 2^63 - 1 left
// none: every registration after it failed).
const MaxID = 1<<53 - 1

// Store is what an import needs of the database.
type Store interface {
	db.Transfer
}

// ImportOptions are an import's keys, flags and clock.
type ImportOptions struct {
	// Keys are keel's own (MFA_KEY or JWT_SECRET): imported TOTP secrets
	// are sealed under them.
	Keys *mfa.Keys
	// TripKey opens the TOTP secrets of the file (ExportKey of
	// --totp-key-file); nil refuses a line that has any.
	TripKey *mfa.Keys
	// Firebase is the project's parameters, for lines with password_salt;
	// nil refuses them.
	Firebase *password.FirebaseProject
	Caps     password.Caps
	Now      func() time.Time
}

// Report says what an import did, line by line where it matters.
type Report struct {
	// KeptIDs: keel had never stored an account when the import began
	// (none there, none ever deleted), so accounts kept the ids their
	// lines gave: an id once an account's is never given to another.
	KeptIDs bool
	// Created counts the accounts stored; Existing the lines whose
	// external_id was already an account's, which changed nothing.
	Created, Existing int
	Failed            []LineError
	// Notes are what a line imported without: the passkeys, factors and
	// identities of an account whose email is not verified.
	Notes []LineError
}

// LineError is what went wrong with (or was left out of) line Line (from 1).
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// importBatch is how many accounts go in one transaction (a savepoint
// each): few enough that it holds SQLite's one writer for tens of
// milliseconds, so keel may keep serving meanwhile; enough that 100,000
// accounts cost 200 commits.
const importBatch = 500

// Import reads r, one Line a line, and stores the accounts importBatch at
// a time, each under a savepoint of its own. A bad line imports nothing of
// itself and is reported with its number; the others go on. It is
// idempotent on external_id: a line whose external_id is an account's
// already changes nothing. The error is for what stops the whole import
// (the database, a line over MaxLineBytes); the batches before it are in.
func Import(ctx context.Context, store Store, r io.Reader, opts ImportOptions) (Report, error) {
	var rep Report
	never, err := store.IDsNeverGiven(ctx)
	if err != nil {
		return rep, err
	}
	rep.KeptIDs = never
	type pending struct {
		line  int
		notes []string
	}
	var (
		batch []db.TransferUser
		lines []pending
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		e := db.Event{Type: "user.created", CreatedAt: opts.Now(), Actor: db.ActorCLI, Data: json.RawMessage(`{"method":"import"}`)}
		results, err := store.ImportUsers(ctx, batch, e)
		if err != nil {
			return fmt.Errorf("lines %d to %d: %w", lines[0].line, lines[len(lines)-1].line, err)
		}
		for i, res := range results {
			switch {
			case res.Err != nil:
				rep.Failed = append(rep.Failed, LineError{lines[i].line, errors.New(storeReason(res.Err))})
			case res.Created:
				rep.Created++
				for _, n := range lines[i].notes {
					rep.Notes = append(rep.Notes, LineError{lines[i].line, errors.New(n)})
				}
			default:
				rep.Existing++
			}
		}
		batch, lines = batch[:0], lines[:0]
		return nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	for lineNo := 1; ; lineNo++ {
		line, tooLong, rerr := readLine(br, buf[:0], MaxLineBytes)
		buf = line
		if rerr != nil && rerr != io.EOF {
			if ferr := flush(); ferr != nil {
				return rep.sorted(), ferr
			}
			return rep.sorted(), fmt.Errorf("line %d: %w", lineNo, rerr)
		}
		raw := bytes.TrimSpace(line)
		switch {
		case tooLong:
			// Refused like any bad line: the lines after it still go in.
			rep.Failed = append(rep.Failed, LineError{lineNo, fmt.Errorf("over %d bytes", MaxLineBytes)})
		case len(raw) > 0:
			u, notes, err := opts.parse(raw, rep.KeptIDs)
			if err != nil {
				rep.Failed = append(rep.Failed, LineError{lineNo, err})
				break
			}
			batch, lines = append(batch, u), append(lines, pending{lineNo, notes})
			if len(batch) == importBatch {
				if err := flush(); err != nil {
					return rep.sorted(), err
				}
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	err = flush()
	return rep.sorted(), err
}

// readLine reads one line from br (without its newline) into buf. A line
// over max bytes is read to its end and dropped (tooLong), so one line
// cannot stop the import or hold more than max bytes of memory. The error
// is io.EOF at the end of the input, with the last line if it had no
// newline.
func readLine(br *bufio.Reader, buf []byte, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+1 { // +1: the newline
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			return bytes.TrimSuffix(buf, []byte("\n")), tooLong, nil
		default:
			return buf, tooLong, err
		}
	}
}

// sorted is rep with its failures and notes in line order (a batch's
// refusals come after the parse errors of lines read later).
func (rep Report) sorted() Report {
	slices.SortStableFunc(rep.Failed, func(a, b LineError) int { return a.Line - b.Line })
	slices.SortStableFunc(rep.Notes, func(a, b LineError) int { return a.Line - b.Line })
	return rep
}

// storeReason is what a line is told when the store refuses it for
// something another account holds; "" for any other error.
func storeReason(err error) string {
	switch {
	case errors.Is(err, db.ErrEmailTaken):
		return "email: another account has it"
	case errors.Is(err, db.ErrIDTaken):
		return "id: another account has it"
	case errors.Is(err, db.ErrPasskeyTaken):
		return "passkeys: a credential_id (or passkey id) is another account's, or repeats in the line"
	case errors.Is(err, db.ErrIdentityTaken):
		return "identities: a (provider, subject) is another account's, or repeats in the line"
	case errors.Is(err, db.ErrHandleTaken):
		return "passkey_user_handle: another account's passkeys use it"
	}
	return ""
}

// parse checks one line and turns it into the account to store, with the
// notes of what it leaves out.
func (o ImportOptions) parse(raw []byte, keepID bool) (db.TransferUser, []string, error) {
	// What the API refuses in a body, a line may not hold either: a key
	// twice (the last would win, hiding the first), invalid UTF-8 or a
	// lone surrogate (read as U+FFFD without a word), nesting past 32.
	if err := validate.CheckJSON(raw); err != nil {
		return db.TransferUser{}, nil, fmt.Errorf("not a JSON account object: %s", strings.Replace(err.Error(), "the request body", "the line", 1))
	}
	var l Line
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return db.TransferUser{}, nil, fmt.Errorf("not a JSON account object: %v", err)
	}
	if dec.More() {
		return db.TransferUser{}, nil, errors.New("more than one JSON value on the line")
	}
	if err := l.checkTimes(); err != nil {
		return db.TransferUser{}, nil, err
	}
	now := db.Millis(o.Now())
	u := db.TransferUser{EmailVerified: l.EmailVerified, CreatedAt: timeOr(l.CreatedAt, now),
		AppMetadata: "{}", UserMetadata: "{}"}
	if err := validate.Email(l.Email); err != nil || len(l.Email) > 254 {
		return u, nil, fmt.Errorf("email: %q is not an email address", l.Email)
	}
	u.Email = strings.ToLower(l.Email)
	if l.ID > MaxID || l.ID < 0 {
		return u, nil, fmt.Errorf("id: a whole number from 1 to %d", MaxID)
	}
	if keepID && l.ID > 0 {
		u.ID = l.ID
	}
	var err error
	if u.PasswordHash, err = o.passwordHash(l); err != nil {
		return u, nil, err
	}
	if l.ExternalID != nil {
		if *l.ExternalID == "" || len(*l.ExternalID) > maxIDLen || !isText(*l.ExternalID) {
			return u, nil, fmt.Errorf("external_id: 1 to %d bytes without a NUL, or null", maxIDLen)
		}
		u.ExternalID = *l.ExternalID
	}
	if u.AppMetadata, err = metadata("app_metadata", l.AppMetadata); err != nil {
		return u, nil, err
	}
	if u.UserMetadata, err = metadata("user_metadata", l.UserMetadata); err != nil {
		return u, nil, err
	}
	if !l.EmailVerified {
		// The ways-in rule (docs/accounts.md): nobody has proved the
		// address, so the account holds nothing but its password, which a
		// reset by whoever proves the address replaces.
		if n := len(l.Passkeys) + len(l.TOTP) + len(l.Identities); n > 0 {
			return u, []string{fmt.Sprintf("email not verified: imported without its %d passkeys, %d TOTP factors and %d identities",
				len(l.Passkeys), len(l.TOTP), len(l.Identities))}, nil
		}
		return u, nil, nil
	}
	if u.Identities, err = identities(l.Identities, now); err != nil {
		return u, nil, err
	}
	if u.Passkeys, err = passkeys(l.Passkeys, now); err != nil {
		return u, nil, err
	}
	if len(u.Passkeys) > 0 {
		if len(l.PasskeyUserHandle) == 0 || len(l.PasskeyUserHandle) > maxHandleLen {
			return u, nil, fmt.Errorf("passkey_user_handle: 1 to %d bytes, required with passkeys (their authenticators return it)", maxHandleLen)
		}
		u.PasskeyHandle = l.PasskeyUserHandle
	}
	if u.Factors, err = o.factors(l.TOTP, now); err != nil {
		return u, nil, err
	}
	return u, nil, nil
}

// passwordHash is the line's hash in the form keel stores: as it is, or
// Firebase's hash and salt under the project's parameters; within the caps.
func (o ImportOptions) passwordHash(l Line) (string, error) {
	hash := l.PasswordHash
	if !isText(hash) {
		// A bcrypt hash is read by its prefix, a Django salt as it is:
		// neither format would refuse a NUL on its own.
		return "", errors.New("password_hash: holds a NUL")
	}
	if l.PasswordSalt != "" {
		if o.Firebase == nil {
			return "", errors.New("password_salt: a Firebase scrypt hash needs the project's parameters (--firebase-signer-key, --firebase-salt-separator, --firebase-rounds, --firebase-mem-cost)")
		}
		h, err1 := DecodeBase64(l.PasswordHash)
		salt, err2 := DecodeBase64(l.PasswordSalt)
		if err1 != nil || err2 != nil || len(h) == 0 || len(salt) == 0 {
			return "", errors.New("password_hash, password_salt: a Firebase hash and salt are base64")
		}
		hash = password.FirebaseHash(*o.Firebase, salt, h)
	}
	if err := password.CheckFormat(hash, o.Caps); err != nil {
		return "", fmt.Errorf("password_hash: %v", strings.TrimPrefix(err.Error(), "password: "))
	}
	return hash, nil
}

// metadata is a JSON object of at most MaxMetadataBytes, compacted; "{}"
// when absent or null.
func metadata(field string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "{}", nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return "", fmt.Errorf("%s: must be a JSON object", field)
	}
	if buf.Len() > MaxMetadataBytes {
		return "", fmt.Errorf("%s: over %d bytes", field, MaxMetadataBytes)
	}
	return buf.String(), nil
}

func identities(list []Identity, now time.Time) ([]db.TransferIdentity, error) {
	if len(list) > db.MaxIdentities {
		return nil, fmt.Errorf("identities: at most %d", db.MaxIdentities)
	}
	var out []db.TransferIdentity
	for i, id := range list {
		if id.Provider == "" || id.Subject == "" || len(id.Provider) > maxIDLen || len(id.Subject) > maxIDLen || len(id.Email) > 254 ||
			!isText(id.Provider, id.Subject, id.Email) {
			return nil, fmt.Errorf("identities[%d]: provider and subject are 1 to %d bytes, without a NUL", i, maxIDLen)
		}
		out = append(out, db.TransferIdentity{Provider: id.Provider, Subject: id.Subject, Email: strings.ToLower(id.Email),
			Trusted: id.Trusted, CreatedAt: timeOr(id.CreatedAt, now)})
	}
	return out, nil
}

func passkeys(list []Passkey, now time.Time) ([]db.Passkey, error) {
	if len(list) > db.MaxPasskeys {
		return nil, fmt.Errorf("passkeys: at most %d", db.MaxPasskeys)
	}
	var out []db.Passkey
	for i, p := range list {
		switch {
		case len(p.CredentialID) == 0 || len(p.CredentialID) > 1023 || len(p.PublicKey) == 0 || len(p.PublicKey) > 4096:
			return nil, fmt.Errorf("passkeys[%d]: credential_id (1 to 1023 bytes) and public_key (its COSE key) are required", i)
		case len(p.ID) > maxIDLen:
			return nil, fmt.Errorf("passkeys[%d]: id over %d bytes", i, maxIDLen)
		case len(p.AAGUID) != 0 && len(p.AAGUID) != 16:
			return nil, fmt.Errorf("passkeys[%d]: aaguid is 16 bytes", i)
		case p.SignCount < 0 || p.SignCount > 1<<32-1:
			return nil, fmt.Errorf("passkeys[%d]: sign_count is a 32-bit counter", i)
		case !isText(append([]string{p.ID, p.Name, p.AttestationType}, p.Transports...)...):
			return nil, fmt.Errorf("passkeys[%d]: id, name, attestation_type and transports hold no NUL", i)
		case utf8.RuneCountInString(p.Name) > maxPasskeyName || validate.DisplayName(p.Name) != nil:
			// The API's PasskeyName (display-name, 64 characters): the name is
			// shown to its user and to admins as any passkey's, and a
			// U+202E in it would reorder what they read.
			return nil, fmt.Errorf("passkeys[%d]: name is at most %d characters, without control or bidirectional formatting characters", i, maxPasskeyName)
		}
		id := p.ID
		if id == "" {
			id = token.NewSessionID()
		}
		name := p.Name
		if name == "" {
			name = "Passkey"
		}
		aaguid := []byte(p.AAGUID)
		if aaguid == nil {
			aaguid = make([]byte, 16)
		}
		attestation := p.AttestationType
		if attestation == "" {
			attestation = "none"
		}
		out = append(out, db.Passkey{ID: id, CredentialID: p.CredentialID, PublicKey: p.PublicKey, Name: name,
			AttestationType: attestation, AAGUID: aaguid, Transports: p.Transports, SignCount: p.SignCount,
			UserVerified: p.UserVerified, BackupEligible: p.BackupEligible, BackupState: p.BackupState,
			CreatedAt: timeOr(p.CreatedAt, now), LastUsedAt: timeOr(p.LastUsedAt, time.Time{})})
	}
	return out, nil
}

// factors opens each TOTP secret with the trip key (for the file's factor
// id) and seals it under keel's.
func (o ImportOptions) factors(list []TOTP, now time.Time) ([]db.Factor, error) {
	if len(list) == 0 {
		return nil, nil
	}
	if len(list) > 1 {
		return nil, errors.New("totp: an account has at most one verified TOTP factor")
	}
	if o.TripKey == nil {
		return nil, errors.New("totp: sealed TOTP secrets need the key they were sealed under (--totp-key-file)")
	}
	t := list[0]
	if t.ID == "" || len(t.ID) > maxIDLen || t.LastStep < 0 {
		return nil, fmt.Errorf("totp[0]: id is 1 to %d bytes, last_step 0 or more", maxIDLen)
	}
	secret, err := o.TripKey.Open(t.ID, t.Secret)
	if err != nil {
		return nil, errors.New("totp[0]: the secret does not open with --totp-key-file's key (another key sealed it, or it was changed)")
	}
	if len(secret) < 10 || len(secret) > 64 {
		return nil, errors.New("totp[0]: the secret is not 10 to 64 bytes")
	}
	// A new id: one of the file's may be a factor's here already.
	id := token.NewSessionID()
	return []db.Factor{{ID: id, Kind: db.FactorTOTP, Secret: o.Keys.Seal(id, secret), Verified: true,
		LastStep: t.LastStep, CreatedAt: timeOr(t.CreatedAt, now)}}, nil
}

// isText reports whether no s holds a NUL. JSON may spell one (\u0000),
// but no text field of an account means it, and PostgreSQL's text refuses
// it: a line with one stopped the whole import there, its batch rolled
// back, where it must refuse that line alone. (Invalid UTF-8 never gets
// this far: the JSON decoder replaces it.) The metadata objects keep
// their escapes as JSON, which both engines store.
func isText(ss ...string) bool {
	for _, s := range ss {
		if strings.ContainsRune(s, 0) {
			return false
		}
	}
	return true
}

// checkTimes refuses a line with a time outside the years 0000 to 9999 in
// UTC (validate.TimeInRange), which JSON cannot carry: RFC 3339's offset
// takes 9999-12-31T23:59:59-23:59 into year 10000, and an account created
// then made GET /profile, and every GET /admin/users page it was on, a 500.
func (l Line) checkTimes() error {
	check := func(field string, t *time.Time) error {
		if t == nil {
			return nil
		}
		if err := validate.TimeInRange(*t); err != nil {
			return fmt.Errorf("%s: %v", field, err)
		}
		return nil
	}
	errs := []error{check("created_at", l.CreatedAt)}
	for i, id := range l.Identities {
		errs = append(errs, check(fmt.Sprintf("identities[%d].created_at", i), id.CreatedAt))
	}
	for i, p := range l.Passkeys {
		errs = append(errs, check(fmt.Sprintf("passkeys[%d].created_at", i), p.CreatedAt),
			check(fmt.Sprintf("passkeys[%d].last_used_at", i), p.LastUsedAt))
	}
	for i, f := range l.TOTP {
		errs = append(errs, check(fmt.Sprintf("totp[%d].created_at", i), f.CreatedAt))
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// timeOr is *t to the millisecond, or def when t is nil.
func timeOr(t *time.Time, def time.Time) time.Time {
	if t == nil {
		return def
	}
	return db.Millis(*t)
}
