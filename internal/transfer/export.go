package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/passkey"
)

// exportPage is how many accounts an export reads at once.
const exportPage = 500

// ExportKey is the key that seals TOTP secrets for the trip, from the
// contents of --totp-key-file (at least mfa.MinKeyLen bytes, surrounding
// white space aside). It is derived apart from keel's own sealing key, so
// that a file sealed for the trip opens with nothing but the key file, even
// where the key file holds the same secret as MFA_KEY.
func ExportKey(file []byte) (*mfa.Keys, error) {
	material := bytes.TrimSpace(file)
	if len(material) < mfa.MinKeyLen {
		return nil, fmt.Errorf("the TOTP key file must hold at least %d bytes (openssl rand -base64 48 makes one)", mfa.MinKeyLen)
	}
	key, err := hkdf.Key(sha256.New, material, nil, "keel users export: TOTP secrets v1", 32)
	if err != nil {
		return nil, err
	}
	return mfa.New(key)
}

// Exported says what an export wrote.
type Exported struct {
	Accounts int
	// TOTPOmitted counts the TOTP factors left out for want of a key
	// (--totp-key-file): those accounts come in without a second factor.
	TOTPOmitted int
}

// Export writes every account of store to w, one Line a line, in id
// order. TOTP secrets are opened with keel's keys and sealed under
// tripKey (ExportKey); with a nil tripKey they are left out and counted.
// An account changed while the export runs is written as its page read it.
func Export(ctx context.Context, store db.Transfer, w io.Writer, keys, tripKey *mfa.Keys) (Exported, error) {
	var out Exported
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var after int64
	for {
		page, err := store.ExportUsers(ctx, after, exportPage)
		if err != nil {
			return out, err
		}
		if len(page) == 0 {
			break
		}
		for _, u := range page {
			line, omitted, err := toLine(u, keys, tripKey)
			if err != nil {
				return out, err
			}
			if err := enc.Encode(line); err != nil {
				return out, err
			}
			out.Accounts++
			out.TOTPOmitted += omitted
		}
		after = page[len(page)-1].ID
	}
	return out, bw.Flush()
}

// toLine is u as a line of the file, and how many TOTP factors it leaves
// out (tripKey nil).
func toLine(u db.TransferUser, keys, tripKey *mfa.Keys) (Line, int, error) {
	l := Line{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, PasswordHash: u.PasswordHash,
		CreatedAt: at(u.CreatedAt), AppMetadata: json.RawMessage(u.AppMetadata), UserMetadata: json.RawMessage(u.UserMetadata)}
	if u.ExternalID != "" {
		l.ExternalID = &u.ExternalID
	}
	l.PasskeyUserHandle = u.PasskeyHandle
	if l.PasskeyUserHandle == nil && len(u.Passkeys) > 0 {
		// Passkeys registered before accounts had handles: their
		// authenticators hold the account id (passkey.LegacyHandle).
		l.PasskeyUserHandle = passkey.LegacyHandle(u.ID)
	}
	for _, i := range u.Identities {
		l.Identities = append(l.Identities, Identity{Provider: i.Provider, Subject: i.Subject, Email: i.Email,
			Trusted: i.Trusted, CreatedAt: at(i.CreatedAt)})
	}
	for _, p := range u.Passkeys {
		l.Passkeys = append(l.Passkeys, Passkey{ID: p.ID, CredentialID: p.CredentialID, PublicKey: p.PublicKey,
			Name: p.Name, AttestationType: p.AttestationType, AAGUID: p.AAGUID, Transports: p.Transports,
			SignCount: p.SignCount, UserVerified: p.UserVerified, BackupEligible: p.BackupEligible,
			BackupState: p.BackupState, CreatedAt: at(p.CreatedAt), LastUsedAt: at(p.LastUsedAt)})
	}
	if tripKey == nil {
		return l, len(u.Factors), nil
	}
	for _, f := range u.Factors {
		secret, err := keys.Open(f.ID, f.Secret)
		if errors.Is(err, mfa.ErrSealed) {
			return l, 0, fmt.Errorf("the TOTP secret of factor %s (account %d) opens under neither the current key material nor the previous", f.ID, u.ID)
		}
		if err != nil {
			return l, 0, err
		}
		l.TOTP = append(l.TOTP, TOTP{ID: f.ID, Secret: tripKey.Seal(f.ID, secret), LastStep: f.LastStep, CreatedAt: at(f.CreatedAt)})
	}
	return l, 0, nil
}

// at is t for a line: nil when zero.
func at(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
