package sqlite

// The OAuth client registry (clients.Store) over the generated queries:
// written once, here, and twinned to db/postgres/clients_gen.go by db/twin,
// under the same rules as accounts.go. The registry's rules are
// internal/clients'; the database holds the ones it can on its own (the
// kind, the application type, a secret hash exactly for a confidential
// client, the lists being JSON arrays) as CHECK constraints.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keelhq/keel/db"
	gen "github.com/keelhq/keel/gen/db/sqlite"
	"github.com/keelhq/keel/internal/clients"
)

var _ clients.Store = (*DB)(nil)

// CreateClient implements clients.Store.
func (d *DB) CreateClient(ctx context.Context, c clients.Client) error {
	n, err := d.write.CreateClient(ctx, gen.CreateClientParams{
		ID: c.ID, Name: c.Name, SecretHash: sql.NullString{String: c.SecretHash, Valid: c.SecretHash != ""},
		Kind: c.Kind, AppType: c.AppType,
		RedirectUris: jsonList(c.RedirectURIs), PostLogoutRedirectUris: jsonList(c.PostLogoutRedirectURIs),
		GrantTypes: jsonList(c.GrantTypes), Scopes: jsonList(c.Scopes),
		Dynamic: c.Dynamic, CreatedAt: db.Millis(c.CreatedAt),
	})
	if err := oneRow(n, err, clients.ErrClientTaken); err != nil {
		return fmt.Errorf("create client %s: %w", c.ID, err)
	}
	return nil
}

// GetClient implements clients.Store. An id that is not UTF-8 text without
// a NUL is no client's (ids are keel's own base64url, or a registration's
// text) and is not asked: PostgreSQL's text refuses such a parameter, and a
// client_id=%00 at the provider's token, device or logout endpoint was a
// 500 there.
func (d *DB) GetClient(ctx context.Context, id string) (clients.Client, error) {
	if !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return clients.Client{}, clients.ErrNoClient
	}
	row, err := d.read.GetClient(ctx, id)
	if err != nil {
		return clients.Client{}, translate(err, clients.ErrNoClient)
	}
	return toClient(row)
}

// ListClients implements clients.Store.
func (d *DB) ListClients(ctx context.Context) ([]clients.Client, error) {
	rows, err := d.read.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]clients.Client, len(rows))
	for i, r := range rows {
		if out[i], err = toClient(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DeleteClient implements clients.Store: the client's grants end with it
// (endGrants), in the same transaction.
func (d *DB) DeleteClient(ctx context.Context, id string) error {
	var ended []db.SessionsEnded
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		n, err := q.DeleteClient(ctx, id)
		if err := oneRow(n, err, clients.ErrNoClient); err != nil {
			return err
		}
		ended, err = d.endGrants(ctx, tx, q, []string{id})
		return err
	})
	if err == nil {
		for _, e := range ended {
			d.announced(e)
		}
	}
	return err
}

// TouchClient implements clients.Store.
func (d *DB) TouchClient(ctx context.Context, id string, at time.Time) error {
	return d.write.TouchClient(ctx, gen.TouchClientParams{ID: id, At: nullTime(at)})
}

// DeleteIdleDynamicClients implements clients.Store: the grants of each
// client it removes end with it, as DeleteClient's.
func (d *DB) DeleteIdleDynamicClients(ctx context.Context, before time.Time) (int64, error) {
	var ids []string
	var ended []db.SessionsEnded
	err := d.inTx(ctx, func(tx *sql.Tx, q *gen.Queries) error {
		var err error
		if ids, err = q.DeleteIdleDynamicClients(ctx, nullTime(before)); err != nil || len(ids) == 0 {
			return err
		}
		ended, err = d.endGrants(ctx, tx, q, ids)
		return err
	})
	if err != nil {
		return 0, err
	}
	for _, e := range ended {
		d.announced(e)
	}
	return int64(len(ids)), nil
}

// endGrants ends, in tx, the grants of the clients ids, which are being
// deleted: every session of theirs (announced in tx, one announcement per
// user, as every session ending is, so their sockets close and their tokens
// stop working), the consents given to them and their pending
// authorization requests, so nothing of a deleted client outlives it. It
// returns the endings for the caller to announce after the commit.
func (d *DB) endGrants(ctx context.Context, tx *sql.Tx, q *gen.Queries, ids []string) ([]db.SessionsEnded, error) {
	byUser := map[int64][]string{}
	var users []int64
	for _, id := range ids {
		rows, err := q.DeleteClientSessions(ctx, sql.NullString{String: id, Valid: true})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if _, ok := byUser[r.UserID]; !ok {
				users = append(users, r.UserID)
			}
			byUser[r.UserID] = append(byUser[r.UserID], r.ID)
		}
		if err := q.DeleteClientConsents(ctx, id); err != nil {
			return nil, err
		}
		if err := q.DeleteClientAuthRequests(ctx, id); err != nil {
			return nil, err
		}
	}
	ended := make([]db.SessionsEnded, 0, len(users))
	for _, u := range users {
		e := db.SessionsEnded{UserID: u, Sessions: byUser[u]}
		if err := d.announce(ctx, tx, e); err != nil {
			return nil, err
		}
		ended = append(ended, e)
	}
	return ended, nil
}

// jsonList is a list as stored: a JSON array, [] for none.
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// toClient converts a row, an empty list as nil and times in UTC.
func toClient(r gen.OauthClient) (clients.Client, error) {
	c := clients.Client{
		ID: r.ID, Name: r.Name, SecretHash: r.SecretHash.String, Kind: r.Kind, AppType: r.AppType,
		Dynamic: r.Dynamic, CreatedAt: db.Millis(r.CreatedAt), LastUsedAt: timeOrZero(r.LastUsedAt),
	}
	for _, l := range []struct {
		to   *[]string
		from string
	}{
		{&c.RedirectURIs, r.RedirectUris}, {&c.PostLogoutRedirectURIs, r.PostLogoutRedirectUris},
		{&c.GrantTypes, r.GrantTypes}, {&c.Scopes, r.Scopes},
	} {
		if err := json.Unmarshal([]byte(l.from), l.to); err != nil {
			return clients.Client{}, fmt.Errorf("client %s: a list: %w", r.ID, err)
		}
		if len(*l.to) == 0 {
			*l.to = nil
		}
	}
	return c, nil
}
