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

	"github.com/keelhq/keel/internal/webhooks"
)

// webhooksUsage is `keel webhooks`' usage, also its error for arguments it
// does not understand.
const webhooksUsage = `usage:
  keel webhooks create --url URL --event TYPE [--event TYPE]...
  keel webhooks list
  keel webhooks rotate ID
  keel webhooks enable ID
  keel webhooks disable ID
  keel webhooks delete ID`

// webhooksCommand runs `keel webhooks create|list|rotate|enable|disable|delete`, the
// endpoints keel sends account events to (docs/webhooks.md): the same
// rules as the admin API's, on the database directly.
func webhooksCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(webhooksUsage)
	}
	var url string
	var events []string
	switch {
	case args[0] == "create":
		fs := flag.NewFlagSet("keel webhooks create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.StringVar(&url, "url", "", "where deliveries go")
		fs.Func("event", "an event type (repeatable, or a comma-separated list)", func(v string) error {
			events = append(events, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
			return nil
		})
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
			return errors.New(webhooksUsage)
		}
		if _, err := webhooks.CheckURL(url, cfg.Webhooks.AllowPrivate); err != nil {
			return err
		}
		var err error
		if events, err = webhooks.CheckTypes(events); err != nil {
			return err
		}
	case args[0] == "list" && len(args) == 1,
		len(args) == 2 && (args[0] == "delete" || args[0] == "rotate" || args[0] == "enable" || args[0] == "disable"):
	default:
		return errors.New(webhooksUsage)
	}
	sealer, err := mfaKeys(cfg)
	if err != nil {
		return err
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	defer store.Close()
	switch args[0] {
	case "create":
		ep, secret := webhooks.NewEndpoint(sealer, url, events, time.Now())
		if err := store.CreateWebhookEndpoint(ctx, ep); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "id:     %s\nsecret: %s\n(the secret is shown this once: give it to the receiver, which verifies each delivery with it)\n", ep.ID, secret)
		return err
	case "list":
		list, err := store.WebhookEndpoints(ctx)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			_, err := fmt.Fprintf(stdout, "no webhook endpoints in %s (keel webhooks create adds one)\n", cfg.Database)
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tURL\tEVENTS\tSTATE\tCREATED")
		for _, e := range list {
			state := "enabled"
			if !e.Enabled() {
				state = "disabled (" + e.DisabledReason + ")"
			} else if !e.FailingSince.IsZero() {
				state = "failing since " + e.FailingSince.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.URL, strings.Join(e.Events, ","), state, e.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "rotate":
		var secret string
		_, err := store.UpdateWebhookEndpoint(ctx, args[1], func(e *webhooks.Endpoint) error {
			secret = webhooks.Rotate(sealer, e, time.Now(), cfg.Webhooks.RotationOverlap)
			return nil
		})
		if errors.Is(err, webhooks.ErrNotFound) {
			return fmt.Errorf("no webhook endpoint %q in %s", args[1], cfg.Database)
		} else if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "secret: %s\n(shown this once; the old secret also signs for %s: move the receiver to the new one before then)\n",
			secret, cfg.Webhooks.RotationOverlap)
		return err
	case "enable", "disable":
		on := args[0] == "enable"
		if _, err := store.UpdateWebhookEndpoint(ctx, args[1], func(e *webhooks.Endpoint) error {
			e.SetEnabled(on, time.Now())
			return nil
		}); errors.Is(err, webhooks.ErrNotFound) {
			return fmt.Errorf("no webhook endpoint %q in %s", args[1], cfg.Database)
		} else if err != nil {
			return err
		}
		msg := "disabled %s: nothing is sent to it until it is enabled (keel webhooks enable)\n"
		if on {
			msg = "enabled %s: the events recorded from now on are sent to it; resend what it missed with POST /admin/webhooks/{id}/deliveries/{delivery_id}/resend\n"
		}
		_, err := fmt.Fprintf(stdout, msg, args[1])
		return err
	default: // delete
		if err := store.DeleteWebhookEndpoint(ctx, args[1]); errors.Is(err, webhooks.ErrNotFound) {
			return fmt.Errorf("no webhook endpoint %q in %s", args[1], cfg.Database)
		} else if err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "deleted %s and its deliveries: nothing more is sent to it\n", args[1])
		return err
	}
}
