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
	"time"

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

// GetClient implements clients.Store.
func (d *DB) GetClient(ctx context.Context, id string) (clients.Client, error) {
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

// DeleteClient implements clients.Store.
func (d *DB) DeleteClient(ctx context.Context, id string) error {
	n, err := d.write.DeleteClient(ctx, id)
	return oneRow(n, err, clients.ErrNoClient)
}

// TouchClient implements clients.Store.
func (d *DB) TouchClient(ctx context.Context, id string, at time.Time) error {
	return d.write.TouchClient(ctx, gen.TouchClientParams{ID: id, At: nullTime(at)})
}

// DeleteIdleDynamicClients implements clients.Store.
func (d *DB) DeleteIdleDynamicClients(ctx context.Context, before time.Time) (int64, error) {
	return d.write.DeleteIdleDynamicClients(ctx, nullTime(before))
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
