package server

// The admin API (tag admin, docs/admin.md): who may call it, and reading
// users. Every admin operation takes the spec's adminAuth scheme, which
// this file enforces in two steps: authenticateAdmin (the validator's hook)
// takes keel's own access token (a person) or a machine's client_credentials
// token of keel's provider (provider.VerifyMachine, which reads the client
// on every request); adminLive, once the request is found valid, reads the
// person's role, second factor, level and last proof in one query and
// applies internal/admin's rule, on every request, so a revoked admin is
// refused at once. The spec marks the destructive operations
// (x-keel-admin: destructive), which need a fresh proof of a person.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/keelhq/keel/db"
	"github.com/keelhq/keel/gen/oapi"
	"github.com/keelhq/keel/internal/admin"
	"github.com/keelhq/keel/internal/provider"
	"github.com/keelhq/keel/internal/token"
	"github.com/keelhq/keel/internal/validate"
)

// adminRequiredType is the problem type of a caller who is not an admin
// (the spec's AdminRequired response).
const adminRequiredType = "urn:keel:problem:admin-required"

var (
	errAdminRequired = &Error{Status: http.StatusForbidden, Type: adminRequiredType, Title: "Admin required",
		Detail: "this operation is for admins"}
	// errAdminMFA is an admin person without a verified factor, or not at
	// aal2: the mfa-required type every client already handles.
	errAdminMFA = &Error{Status: http.StatusForbidden, Type: mfaRequiredType, Title: "Second factor required",
		Detail: "an admin needs a verified second factor and a session verified with it"}
	errNoSuchUser = &Error{Status: http.StatusNotFound, Detail: "no such user"}
	errLastAdmin  = &Error{Status: http.StatusConflict, Detail: "this is keel's last admin: grant another the role first"}
)

// machineKey carries the machine an admin request's token speaks for.
type machineKey struct{}

// authenticateAdmin is the adminAuth scheme's token check: keel's own
// access token, or a machine's token from keel's provider. Either way the
// database has the last word (adminLive, and VerifyMachine's read of the
// client).
func (s *Server) authenticateAdmin(r *http.Request) (context.Context, error) {
	raw, ok := bearerToken(r.Header.Get("Authorization"))
	if !ok {
		return nil, errNoBearer
	}
	if p, err := s.tokens.Verify(raw); err == nil {
		return context.WithValue(r.Context(), principalKey{}, p), nil
	}
	if s.op == nil {
		return nil, errBadBearer
	}
	m, err := s.op.VerifyMachine(r.Context(), raw)
	switch {
	case errors.Is(err, provider.ErrNotMachine):
		return nil, errBadBearer
	case err != nil:
		return nil, err
	}
	return context.WithValue(r.Context(), machineKey{}, m), nil
}

// adminLive is the admin check of every admin request, after
// authenticateAdmin: a machine needs the admin scope; a person's session
// must live at its token's level, and internal/admin's rule must hold for
// what the database says now. The context it returns names the caller as
// the actor of the events the operation records.
func (s *Server) adminLive(ctx context.Context, op *validate.Operation) (context.Context, error) {
	if m, ok := ctx.Value(machineKey{}).(provider.Machine); ok {
		if err := admin.CheckMachine(m.Scopes); err != nil {
			return nil, err
		}
		return withActor(ctx, db.ActorClient(m.ClientID)), nil
	}
	p := mustPrincipal(ctx)
	acc, err := s.store.GetAdminAccess(ctx, p.SessionID, p.UserID)
	if err != nil {
		return nil, err // db.ErrNoSession: the session has ended
	}
	if err := checkLevel(p, acc.SessionAccess); err != nil {
		return nil, err
	}
	person := admin.Person{Role: acc.Role, HasFactor: acc.HasFactor, AAL2: acc.AAL == db.AAL2, AuthTime: acc.AuthTime}
	if err := admin.CheckPerson(person, op.Destructive, s.now(), s.reauthMaxAge()); err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, accessKey{}, acc.SessionAccess)
	return withActor(ctx, db.ActorAdmin(p.UserID)), nil
}

// AdminGetUser returns one user with their sessions, factors, passkeys and
// identities.
func (s *Server) AdminGetUser(ctx context.Context, req oapi.AdminGetUserRequestObject) (oapi.AdminGetUserResponseObject, error) {
	u, err := s.adminUser(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	return oapi.AdminGetUser200JSONResponse(u), nil
}

// AdminSetRole grants or revokes the admin role, unless that leaves no
// admin; the change and its event commit together.
func (s *Server) AdminSetRole(ctx context.Context, req oapi.AdminSetRoleRequestObject) (oapi.AdminSetRoleResponseObject, error) {
	role := string(req.Body.Role)
	_, _, err := s.store.SetRole(ctx, db.RoleChange{UserID: req.ID, Role: role, KeepAdmin: true, Now: s.now()},
		func(tx *sql.Tx, u db.UserRecord, from string) error {
			return s.store.RecordEventTx(ctx, tx, s.event(ctx, db.EventRoleChanged, u.ID, map[string]string{"role": role, "from": from}))
		})
	if errors.Is(err, db.ErrNoUser) {
		return nil, errNoSuchUser
	}
	if err != nil {
		return nil, err
	}
	u, err := s.adminUser(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	return oapi.AdminSetRole200JSONResponse(u), nil
}

// AdminListUsers returns a page of users in id order, found by an email
// prefix or an id, a role and a state. A page with filters reads a bounded
// number of users (db.UserFilter.Scan), so it may come back short, even
// empty, with a next_cursor: the listing ends where next_cursor does.
func (s *Server) AdminListUsers(ctx context.Context, req oapi.AdminListUsersRequestObject) (oapi.AdminListUsersResponseObject, error) {
	after, err := decodeCursorOf(userCursor, req.Params.Cursor)
	if err != nil {
		return nil, err
	}
	now := s.now()
	f := db.UserFilter{After: after, Limit: pageSize(req.Params.Limit), Now: now, Scan: s.cfg.AdminUsersScan}
	if q := req.Params.Query; q != nil {
		f.Query = *q
	}
	if r := req.Params.Role; r != nil {
		f.Role = string(*r)
	}
	if st := req.Params.State; st != nil {
		f.State = string(*st)
	}
	p, err := s.store.ListUsers(ctx, f)
	if err != nil {
		return nil, err
	}
	page := oapi.AdminListUsers200JSONResponse{Users: make([]oapi.AdminUserSummary, 0, len(p.Users))}
	if p.Next != 0 {
		next := encodeCursorOf(userCursor, p.Next)
		page.NextCursor = &next
	}
	for _, r := range p.Users {
		page.Users = append(page.Users, oapi.AdminUserSummary{ID: r.ID, Email: r.Email, EmailVerified: r.EmailVerified,
			CreatedAt: r.CreatedAt.UTC(), Role: oapi.Role(r.Role), State: oapi.UserState(r.State(now))})
	}
	return page, nil
}

// adminUser reads the user with id and what hangs off the account.
func (s *Server) adminUser(ctx context.Context, id int64) (oapi.AdminUser, error) {
	rec, err := s.store.GetUserRecord(ctx, id)
	if errors.Is(err, db.ErrNoUser) {
		return oapi.AdminUser{}, errNoSuchUser
	}
	if err != nil {
		return oapi.AdminUser{}, err
	}
	u := toAdminUser(rec, s.now())
	sessions, err := s.store.ListSessions(ctx, id)
	if err != nil {
		return u, err
	}
	factors, err := s.store.ListFactors(ctx, id)
	if err != nil {
		return u, err
	}
	passkeys, err := s.store.ListPasskeys(ctx, id)
	if err != nil {
		return u, err
	}
	identities, err := s.store.ListIdentities(ctx, id)
	if err != nil {
		return u, err
	}
	u.Sessions = make([]oapi.AdminSession, len(sessions))
	for i, r := range sessions {
		u.Sessions[i] = oapi.AdminSession{ID: r.ID, CreatedAt: r.CreatedAt.UTC(), LastUsedAt: r.LastUsedAt.UTC(),
			UserAgent: r.UserAgent, Aal: toSession(r, "").Aal}
		if r.ClientID != "" {
			u.Sessions[i].ClientID = &r.ClientID
		}
	}
	u.Factors = make([]oapi.Factor, len(factors))
	for i, f := range factors {
		u.Factors[i] = toFactor(f)
	}
	u.Passkeys = make([]oapi.Passkey, len(passkeys))
	for i, p := range passkeys {
		u.Passkeys[i] = toPasskey(p)
	}
	u.Identities = make([]oapi.Identity, len(identities))
	for i, r := range identities {
		u.Identities[i] = toIdentity(r)
	}
	return u, nil
}

// toAdminUser is the admin API's view of an account at now, without the
// lists that hang off it (adminUser adds them).
func toAdminUser(r db.UserRecord, now time.Time) oapi.AdminUser {
	return oapi.AdminUser{
		ID: r.ID, Email: r.Email, EmailVerified: r.EmailVerified, CreatedAt: r.CreatedAt.UTC(),
		Role: oapi.Role(r.Role), State: oapi.UserState(r.State(now)),
		AppMetadata: jsonObject(r.AppMetadata), UserMetadata: jsonObject(r.UserMetadata),
		Ban: toAdminBan(r),
	}
}

// jsonObject decodes a stored metadata object; the store's CHECK keeps it
// one, so anything else reads as empty. Numbers stay their text
// (json.Number): through float64 a large integer would be rounded and a
// tiny number read as 0, and an admin who writes back what they read would
// change what they did not touch.
func jsonObject(raw []byte) map[string]any {
	m := map[string]any{}
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&m) != nil {
			return map[string]any{}
		}
	}
	return m
}

// AdminAudit lists the events, newest first, whole, filtered and a page at
// a time (toAuditEvent).
func (s *Server) AdminAudit(ctx context.Context, req oapi.AdminAuditRequestObject) (oapi.AdminAuditResponseObject, error) {
	q := req.Params
	before, err := decodeCursor(q.Cursor)
	if err != nil {
		return nil, err
	}
	f := db.EventFilter{Before: before}
	if q.User != nil {
		f.UserID = *q.User
	}
	if q.Actor != nil {
		f.Actor = *q.Actor
	}
	if q.Type != nil {
		f.Type = *q.Type
	}
	if q.Since != nil {
		f.Since = *q.Since
	}
	es, next, err := s.eventPage(ctx, f, q.Limit)
	if err != nil {
		return nil, err
	}
	out := oapi.AuditPage{Events: make([]oapi.AuditEvent, len(es)), NextCursor: next}
	for i, e := range es {
		if out.Events[i], err = toAuditEvent(e); err != nil {
			return nil, err
		}
	}
	return oapi.AdminAudit200JSONResponse(out), nil
}

// AdminBanUser bans a user: the ban, the end of every session and grant of
// theirs, and the events user.banned and session.ended (why ban) are one
// transaction (db.Bans.BanUser), so a ban is never recorded without taking
// effect, nor the reverse.
func (s *Server) AdminBanUser(ctx context.Context, req oapi.AdminBanUserRequestObject) (oapi.AdminBanUserResponseObject, error) {
	if strings.ContainsRune(req.Body.Reason, 0) {
		return nil, errReasonNUL
	}
	now := s.now()
	b := db.Ban{At: now, Reason: req.Body.Reason}
	data := banData{Reason: b.Reason}
	if u := req.Body.Until; u != nil {
		if !u.After(now) {
			return nil, errUntilPast
		}
		b.Until, data.Until = *u, new(u.UTC().Truncate(time.Millisecond))
	}
	if p, person := ctx.Value(principalKey{}).(token.Principal); person && p.UserID == req.ID {
		return nil, errSelfBan
	}
	err := s.store.BanUser(ctx, req.ID, b, func(tx *sql.Tx, ended []string) error {
		if err := s.store.RecordEventTx(ctx, tx, s.event(ctx, db.EventUserBanned, req.ID, data)); err != nil {
			return err
		}
		if len(ended) == 0 {
			return nil
		}
		return s.store.RecordEventTx(ctx, tx, s.event(ctx, db.EventSessionEnded, req.ID, sessionEndedData{Why: "ban", All: true}))
	})
	if errors.Is(err, db.ErrNoUser) {
		return nil, errNoSuchUser
	}
	if err != nil {
		return nil, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "account banned", slog.Int64("user", req.ID))
	u, err := s.adminUser(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	return oapi.AdminBanUser200JSONResponse(u), nil
}

// AdminUnbanUser lifts a user's ban (the event user.unbanned in the same
// transaction); a user without one is left as it is, and nothing recorded.
func (s *Server) AdminUnbanUser(ctx context.Context, req oapi.AdminUnbanUserRequestObject) (oapi.AdminUnbanUserResponseObject, error) {
	lifted, err := s.store.UnbanUser(ctx, req.ID, s.recordTx(ctx, s.event(ctx, db.EventUserUnbanned, req.ID, nil)))
	if errors.Is(err, db.ErrNoUser) {
		return nil, errNoSuchUser
	}
	if err != nil {
		return nil, err
	}
	if lifted {
		s.log.LogAttrs(ctx, slog.LevelInfo, "account ban lifted", slog.Int64("user", req.ID))
	}
	u, err := s.adminUser(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	return oapi.AdminUnbanUser200JSONResponse(u), nil
}

// Changing users (docs/admin.md, "Changing users"): create or invite,
// change the address, its flag and app_metadata, end every session, reset
// the second factor, delete. Each records its event, with the admin or
// machine as its actor, in the change's own transaction.

// errInviteWithPassword is an invitation that sets the password the
// invited user is to choose.
var errInviteWithPassword = &Error{Status: http.StatusBadRequest, Field: "/password",
	Detail: "must not be sent with invite: the invited user chooses it through the mailed link"}

// errDeleteAdmin is the deletion of an admin's account.
var errDeleteAdmin = &Error{Status: http.StatusConflict,
	Detail: "this account is an admin's: revoke its role first (PUT /admin/users/{id}/role), which keeps keel's last admin"}

// AdminCreateUser creates an account, or invites its owner: the account,
// its user.created event and (an invitation) the mail commit together.
func (s *Server) AdminCreateUser(ctx context.Context, req oapi.AdminCreateUserRequestObject) (oapi.AdminCreateUserResponseObject, error) {
	b := req.Body
	invite := b.Invite != nil && *b.Invite
	n := db.NewAccount{Email: normalizeEmail(string(b.Email)), EmailVerified: b.EmailVerified != nil && *b.EmailVerified, CreatedAt: s.now()}
	if b.Password != nil {
		if invite {
			return nil, errInviteWithPassword
		}
		hash, err := s.passwords.Hash(ctx, *b.Password)
		if err != nil {
			return nil, passwordField(err, "/password")
		}
		n.PasswordHash = string(hash)
	}
	if b.AppMetadata != nil {
		var err error
		if n.AppMetadata, err = s.appMetadata(*b.AppMetadata); err != nil {
			return nil, err
		}
	}
	method := "admin"
	if invite {
		method = "invite"
	}
	u, err := s.store.CreateAccount(ctx, n, func(tx *sql.Tx, u db.User) error {
		if err := s.store.RecordEventTx(ctx, tx, s.event(ctx, db.EventUserCreated, u.ID, map[string]string{"method": method})); err != nil {
			return err
		}
		if invite {
			return s.jobs().InviteTx(ctx, tx, u.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, err := s.adminUser(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return oapi.AdminCreateUser201JSONResponse(out), nil
}

// AdminUpdateUser changes the account's address, its verified flag and
// app_metadata. A new address is unverified unless the request says it is
// verified too; then it gets the verification mail, in the change's
// transaction, as a registration does.
func (s *Server) AdminUpdateUser(ctx context.Context, req oapi.AdminUpdateUserRequestObject) (oapi.AdminUpdateUserResponseObject, error) {
	b := req.Body
	ch := db.UserChange{EmailVerified: b.EmailVerified}
	if b.Email != nil {
		email := normalizeEmail(string(*b.Email))
		ch.Email = &email
	}
	if b.AppMetadata != nil {
		meta, err := s.appMetadata(*b.AppMetadata)
		if err != nil {
			return nil, err
		}
		ch.AppMetadata = &meta
	}
	record := s.recordUpdate(ctx)
	_, _, err := s.store.UpdateUser(ctx, req.ID, ch, func(tx *sql.Tx, before, after db.User) error {
		if err := record(tx, before, after); err != nil {
			return err
		}
		if after.Email != before.Email && !after.EmailVerified {
			return s.jobs().VerifyEmailTx(ctx, tx, after.ID)
		}
		return nil
	})
	if err != nil {
		return nil, adminUserError(err)
	}
	out, err := s.adminUser(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	return oapi.AdminUpdateUser200JSONResponse(out), nil
}

// AdminLogoutUser ends every session of the account: its tokens are refused
// and its sockets close at once, on every replica, and its grants to
// clients end with them.
func (s *Server) AdminLogoutUser(ctx context.Context, req oapi.AdminLogoutUserRequestObject) (oapi.AdminLogoutUserResponseObject, error) {
	_, err := s.store.EndUserSessions(ctx, req.ID, s.recordTx(ctx, s.event(ctx, db.EventSessionEnded, req.ID, sessionEndedData{Why: "admin", All: true})))
	if err != nil {
		return nil, adminUserError(err)
	}
	return oapi.AdminLogoutUser204Response{}, nil
}

// AdminResetMFA removes the account's TOTP factors and recovery codes (and
// its passkeys, when asked) after the operator has checked out of band who
// asks, and ends every session: what the removed factor raised goes with
// it. The owner is mailed, as for every change to the ways in.
func (s *Server) AdminResetMFA(ctx context.Context, req oapi.AdminResetMFARequestObject) (oapi.AdminResetMFAResponseObject, error) {
	passkeys := req.Params.Passkeys != nil && *req.Params.Passkeys
	r, err := s.store.ResetFactors(ctx, req.ID, passkeys, func(tx *sql.Tx, r db.FactorsReset) error {
		// The event, with what went, feeds the owner's mail (notice); the
		// sessions it ended are an admin's ending too (session.ended, which
		// webhook receivers of sessions hear).
		return inOrder(s.notice(ctx, s.event(ctx, db.EventMFAFactorsReset, req.ID, map[string]int64{
			"factors": r.Factors, "recovery_codes": r.RecoveryCodes, "passkeys": r.Passkeys})),
			s.recordTx(ctx, s.event(ctx, db.EventSessionEnded, req.ID, sessionEndedData{Why: "admin", All: true})))(tx)
	})
	if err != nil {
		return nil, adminUserError(err)
	}
	s.noticed(ctx, db.EventMFAFactorsReset, req.ID)
	return oapi.AdminResetMFA200JSONResponse{Factors: r.Factors, RecoveryCodes: r.RecoveryCodes, Passkeys: r.Passkeys}, nil
}

// AdminDeleteUser deletes the account as DELETE /profile does: its sessions
// end (sockets close, grants end) and everything of it goes, but its events,
// the user.deleted one among them, stay.
func (s *Server) AdminDeleteUser(ctx context.Context, req oapi.AdminDeleteUserRequestObject) (oapi.AdminDeleteUserResponseObject, error) {
	// An admin's account goes only once its role is revoked, which keeps
	// keel's last admin (PUT /admin/users/{id}/role).
	rec, err := s.store.GetUserRecord(ctx, req.ID)
	if err != nil {
		return nil, adminUserError(err)
	}
	if rec.Role == db.RoleAdmin {
		return nil, errDeleteAdmin
	}
	if err := s.store.DeleteUser(ctx, req.ID, s.recordTx(ctx, s.event(ctx, db.EventUserDeleted, req.ID, nil))); err != nil {
		return nil, adminUserError(err)
	}
	return oapi.AdminDeleteUser204Response{}, nil
}

// adminUserError is a store error of a change to the user an admin names:
// no such user is a 404 (elsewhere db.ErrNoUser is the caller's own
// account gone, a 401).
func adminUserError(err error) error {
	if errors.Is(err, db.ErrNoUser) {
		return errNoSuchUser
	}
	return err
}
