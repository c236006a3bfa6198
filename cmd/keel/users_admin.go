package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keelhq/keel/db"
)

// setRoleCommand runs `keel users grant-admin|revoke-admin EMAIL`: the
// operator, at the database, decides who is an admin (docs/admin.md, "Who
// is an admin"). The change counts at the account's next admin request
// (the role is read on every one) and is recorded as the event
// user.role_changed, actor "cli", in its transaction. Unlike the API, the
// command may revoke the last admin: whoever holds the database can always
// grant the role again.
func setRoleCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) != 2 || (args[0] != "grant-admin" && args[0] != "revoke-admin") {
		return errors.New(usersUsage)
	}
	role := db.RoleAdmin
	if args[0] == "revoke-admin" {
		role = db.RoleUser
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	defer store.Close()
	email := args[1]
	u, from, err := store.SetRole(ctx, db.RoleChange{Email: email, Role: role}, func(tx *sql.Tx, u db.UserRecord, from string) error {
		data, _ := json.Marshal(map[string]string{"role": role, "from": from})
		return store.RecordEventTx(ctx, tx, db.Event{Type: db.EventRoleChanged, CreatedAt: time.Now(), UserID: u.ID,
			Actor: db.ActorCLI, Data: data})
	})
	switch {
	case errors.Is(err, db.ErrNoUser):
		return fmt.Errorf("no account with the email %q in %s", email, cfg.Database)
	case err != nil:
		return err
	case from == role:
		_, err = fmt.Fprintf(stdout, "%s (id %d) is %s already: nothing changed\n", u.Email, u.ID, article(role))
	case role == db.RoleAdmin:
		_, err = fmt.Fprintf(stdout, "%s (id %d) is an admin now: the admin API takes them once they sign in with a verified second factor (aal2)\n", u.Email, u.ID)
	default:
		_, err = fmt.Fprintf(stdout, "%s (id %d) is no longer an admin: the admin API refuses their next request\n", u.Email, u.ID)
	}
	return err
}

// article is "an admin" or "a user".
func article(role string) string {
	if role == db.RoleAdmin {
		return "an admin"
	}
	return "a user"
}
