package provider

import (
	"context"
	"errors"
	"time"

	"github.com/keelhq/keel/db"
)

// The states of a device code.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
)

// SlowDownStep is what a poll that came too soon adds to its device code's
// interval (RFC 8628 §3.5: the device adds the same 5 s on its side).
const SlowDownStep = 5 * time.Second

// DeviceCode is one device authorization (RFC 8628): from
// /oauth2/device_authorization until its tokens are issued or it expires.
type DeviceCode struct {
	DeviceHash string // SHA-256 of the device code
	UserHash   string // SHA-256 of the normalised user code (NormalizeUserCode)
	ClientID   string
	Scopes     []string
	State      string // DevicePending, DeviceApproved or DeviceDenied
	// Interval is the least time between two polls; LastPollAt the last
	// poll (zero before the first).
	Interval   time.Duration
	LastPollAt time.Time

	// Set once approved: the user, the grant's session, and what the
	// sign-in behind it proved.
	UserID    int64
	SessionID string
	AuthTime  time.Time
	AMR       string
	ACR       string

	CreatedAt time.Time
	ExpiresAt time.Time // OP_DEVICE_CODE_TTL after CreatedAt
}

// Errors of the DeviceStore.
var (
	// ErrNoDeviceCode is a device or user code that is not there (never
	// was, expired and pruned, or its tokens issued), or, for the answers,
	// no longer pending.
	ErrNoDeviceCode = errors.New("provider: no such device code")
	// ErrSlowDown is a poll sooner than its code's interval after the last.
	ErrSlowDown = errors.New("provider: polled too soon")
)

// DeviceStore keeps the device codes; db/sqlite and db/postgres implement
// it (db/sqlite/device.go, twinned), held to one behaviour by
// db/storetest's device suite.
type DeviceStore interface {
	// CreateDeviceCode stores a new, pending code.
	CreateDeviceCode(ctx context.Context, c DeviceCode) error
	// DeviceCodeByUserCode returns the code whose user code has the hash,
	// in any state, expired or not, or ErrNoDeviceCode.
	DeviceCodeByUserCode(ctx context.Context, userHash string) (DeviceCode, error)
	// ApproveDeviceCode starts the grant's session sess (a new one, with
	// ClientID set, as db.Sessions.CreateSession) and records it, its user
	// and acr in the code, in one transaction; ErrNoDeviceCode when the
	// code is not pending at now (answered already, or expired), and then
	// no session starts.
	ApproveDeviceCode(ctx context.Context, userHash string, sess db.Session, acr string, now time.Time) error
	// DenyDeviceCode marks a pending, live code denied; ErrNoDeviceCode as
	// for ApproveDeviceCode.
	DenyDeviceCode(ctx context.Context, userHash string, now time.Time) error
	// PollDeviceCode records a poll at now by clientID of the code with the
	// device hash and returns it, in one transaction: ErrNoDeviceCode when
	// there is none, or it is another client's (and then it is untouched); ErrSlowDown (with the code) when the poll comes sooner than
	// Interval after the last, and then the interval grows by SlowDownStep;
	// an approved code is deleted as it is returned, so its tokens are
	// issued once.
	PollDeviceCode(ctx context.Context, deviceHash, clientID string, now time.Time) (DeviceCode, error)
	// PruneDeviceCodes removes the codes that expired by now and returns
	// how many.
	PruneDeviceCodes(ctx context.Context, now time.Time) (int64, error)
}
