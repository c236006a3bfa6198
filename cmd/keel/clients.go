package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keelhq/keel/internal/clients"
)

// clientsUsage is `keel clients`' usage, also its error for arguments it
// does not understand.
const clientsUsage = `usage:
  keel clients create --name NAME [--public] [--native] [--redirect-uri URI]... [--post-logout-uri URI]...
                      [--grant GRANT]... [--scope SCOPE]...
  keel clients list
  keel clients delete ID`

// clientsCommand runs `keel clients create|list|delete`, the registry of
// the apps that sign in with keel as an OpenID Provider (docs/provider.md).
func clientsCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(clientsUsage)
	}
	var reg clients.Registration
	switch {
	case args[0] == "create":
		var err error
		if reg, err = parseClientFlags(args[1:]); err != nil {
			return err
		}
	case args[0] == "list" && len(args) == 1, args[0] == "delete" && len(args) == 2:
	default:
		return errors.New(clientsUsage)
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	defer store.Close()
	switch args[0] {
	case "create":
		return createClient(ctx, store, reg, stdout)
	case "list":
		list, err := store.ListClients(ctx)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			_, err := fmt.Fprintf(stdout, "no clients in %s (keel clients create adds one)\n", cfg.Database)
			return err
		}
		return printClients(stdout, list)
	default: // delete
		if err := store.DeleteClient(ctx, args[1]); errors.Is(err, clients.ErrNoClient) {
			return fmt.Errorf("no client %q in %s", args[1], cfg.Database)
		} else if err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "deleted %s: it gets no new token, and every grant it held has ended\n", args[1])
		return err
	}
}

// parseClientFlags reads create's flags. --grant and --scope may also be
// given once with a list, separated by commas or spaces (as OAuth writes
// scopes).
func parseClientFlags(args []string) (clients.Registration, error) {
	var r clients.Registration
	fs := flag.NewFlagSet("keel clients create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&r.Name, "name", "", "the name users see on the consent page")
	fs.BoolVar(&r.Public, "public", false, "no secret: a browser or native app")
	fs.BoolVar(&r.Native, "native", false, "application type native")
	fs.Func("redirect-uri", "a redirect URI (repeatable)", appendTo(&r.RedirectURIs, false))
	fs.Func("post-logout-uri", "a post-logout redirect URI (repeatable)", appendTo(&r.PostLogoutRedirectURIs, false))
	fs.Func("grant", "an allowed grant (repeatable)", appendTo(&r.GrantTypes, true))
	fs.Func("scope", "an allowed scope (repeatable)", appendTo(&r.Scopes, true))
	if err := fs.Parse(args); err != nil {
		return r, fmt.Errorf("%v\n%s", err, clientsUsage)
	}
	if fs.NArg() > 0 {
		return r, fmt.Errorf("unexpected %q\n%s", fs.Arg(0), clientsUsage)
	}
	if r.Name == "" {
		return r, errors.New("--name is required\n" + clientsUsage)
	}
	return r, nil
}

// appendTo is a flag that adds its value to *list, split at commas and
// spaces when split.
func appendTo(list *[]string, split bool) func(string) error {
	return func(v string) error {
		if !split {
			*list = append(*list, v)
			return nil
		}
		*list = append(*list, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
		return nil
	}
}

// createClient registers r and prints the client's id and, for a
// confidential client, its secret: the one time it is shown, since only its
// hash is stored.
func createClient(ctx context.Context, st clients.Store, r clients.Registration, w io.Writer) error {
	c, secret, err := clients.Register(r, time.Now())
	if err != nil {
		return fmt.Errorf("the client was not created:\n%w", err)
	}
	if err := st.CreateClient(ctx, c); err != nil {
		return err
	}
	fmt.Fprintf(w, "created %s client %q\n", clientKind(c), c.Name)
	fmt.Fprintf(w, "client_id:     %s\n", c.ID)
	if secret == "" {
		_, err := fmt.Fprintln(w, "no secret: a public client has none (it uses PKCE, or the device grant)")
		return err
	}
	fmt.Fprintf(w, "client_secret: %s\n", secret)
	_, err = fmt.Fprintln(w, "WARNING: the secret is not shown again and cannot be recovered (keel keeps only its hash): store it now; "+
		"if it is lost, delete the client and create another")
	return err
}

// clientKind is "confidential web", "public native", and "dynamic" before
// it for a client that registered itself.
func clientKind(c clients.Client) string {
	kind := c.Kind + " " + c.AppType
	if c.Dynamic {
		kind = "dynamic " + kind
	}
	return kind
}

// printClients lists clients as a table. It holds no secret, nor its hash.
func printClients(w io.Writer, list []clients.Client) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKIND\tGRANTS\tSCOPES\tREDIRECT URIS\tCREATED\tLAST USED")
	for _, c := range list {
		fmt.Fprintf(tw, "%s\t%q\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, clientKind(c),
			orDash(strings.Join(c.GrantTypes, ",")), orDash(strings.Join(c.Scopes, " ")),
			orDash(strings.Join(c.RedirectURIs, " ")), when(c.CreatedAt), when(c.LastUsedAt))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
