package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/keelhq/keel/internal/mfa"
	"github.com/keelhq/keel/internal/password"
	"github.com/keelhq/keel/internal/transfer"
)

// usersUsage is `keel users`' usage, also its error for arguments it does
// not understand.
const usersUsage = `usage:
  keel users grant-admin EMAIL | revoke-admin EMAIL
  keel users export [--totp-key-file FILE] OUT        (OUT: a file, made 0600, or - for standard output)
  keel users import [--totp-key-file FILE] [--firebase-signer-key B64 --firebase-salt-separator B64
                    --firebase-rounds N --firebase-mem-cost N] IN   (IN: a file, or - for standard input)`

// usersCommand runs `keel users export|import` (docs/admin.md, "Moving
// users") and `keel users grant-admin|revoke-admin` (users_admin.go).
func usersCommand(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usersUsage)
	}
	switch args[0] {
	case "export":
		return exportUsers(ctx, cfg, args[1:], stdout)
	case "import":
		return importUsers(ctx, cfg, args[1:], stdout)
	case "grant-admin", "revoke-admin":
		return setRoleCommand(ctx, cfg, args, stdout)
	}
	return errors.New(usersUsage)
}

// transferFlags are export's and import's flags.
type transferFlags struct {
	totpKeyFile string
	firebase    struct {
		signerKey, saltSeparator string
		rounds, memCost          int
	}
	path string
}

func parseTransferFlags(name string, args []string, withFirebase bool) (transferFlags, error) {
	var f transferFlags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.totpKeyFile, "totp-key-file", "", "the key TOTP secrets are sealed under in the file")
	if withFirebase {
		fs.StringVar(&f.firebase.signerKey, "firebase-signer-key", "", "the project's base64_signer_key")
		fs.StringVar(&f.firebase.saltSeparator, "firebase-salt-separator", "", "the project's base64_salt_separator")
		fs.IntVar(&f.firebase.rounds, "firebase-rounds", 0, "the project's rounds")
		fs.IntVar(&f.firebase.memCost, "firebase-mem-cost", 0, "the project's mem_cost")
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return f, errors.New(usersUsage)
	}
	f.path = fs.Arg(0)
	return f, nil
}

// tripKey is the key of --totp-key-file, nil without it.
func (f transferFlags) tripKey() (*mfa.Keys, error) {
	if f.totpKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(f.totpKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--totp-key-file: %w", err)
	}
	k, err := transfer.ExportKey(b)
	if err != nil {
		return nil, fmt.Errorf("--totp-key-file: %w", err)
	}
	return k, nil
}

// firebaseProject is the Firebase flags' project, nil when none is set.
func (f transferFlags) firebaseProject() (*password.FirebaseProject, error) {
	fb := f.firebase
	if fb.signerKey == "" && fb.saltSeparator == "" && fb.rounds == 0 && fb.memCost == 0 {
		return nil, nil
	}
	key, err1 := transfer.DecodeBase64(fb.signerKey)
	sep, err2 := transfer.DecodeBase64(fb.saltSeparator)
	if err1 != nil || err2 != nil || len(key) == 0 || fb.rounds < 1 || fb.memCost < 1 {
		return nil, errors.New("the Firebase flags: --firebase-signer-key and --firebase-salt-separator (base64), --firebase-rounds and --firebase-mem-cost (1 or more) go together")
	}
	return &password.FirebaseProject{SignerKey: key, SaltSeparator: sep, Rounds: fb.rounds, MemCost: fb.memCost}, nil
}

// exportUsers runs `keel users export`.
func exportUsers(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	f, err := parseTransferFlags("keel users export", args, false)
	if err != nil {
		return err
	}
	trip, err := f.tripKey()
	if err != nil {
		return err
	}
	keys, err := mfaKeys(cfg)
	if err != nil {
		return err
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	defer store.Close()
	out, report := io.Writer(stdout), stdout
	var file *os.File
	if f.path == "-" {
		report = os.Stderr // standard output is the file
	} else {
		// Password hashes and (sealed) TOTP secrets: for the operator's eyes.
		if file, err = os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		defer file.Close()
		// OpenFile's mode is only a new file's: a file that was there
		// (an earlier export, made readable to all) would keep its own.
		if fi, err := file.Stat(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() != 0o600 {
			if err := file.Chmod(0o600); err != nil {
				return err
			}
		}
		out = file
	}
	sum, err := transfer.Export(ctx, store, out, keys, trip)
	if err != nil {
		return fmt.Errorf("users export: %w (after %d accounts)", err, sum.Accounts)
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return err
		}
	}
	fmt.Fprintf(report, "exported %d accounts\n", sum.Accounts)
	if sum.TOTPOmitted > 0 {
		fmt.Fprintf(report, "left out %d TOTP factors (no --totp-key-file): those accounts come in without their second factor\n", sum.TOTPOmitted)
	}
	return nil
}

// importUsers runs `keel users import`.
func importUsers(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	f, err := parseTransferFlags("keel users import", args, true)
	if err != nil {
		return err
	}
	trip, err := f.tripKey()
	if err != nil {
		return err
	}
	fb, err := f.firebaseProject()
	if err != nil {
		return err
	}
	keys, err := mfaKeys(cfg)
	if err != nil {
		return err
	}
	in := io.Reader(os.Stdin)
	if f.path != "-" {
		file, err := os.Open(f.path)
		if err != nil {
			return err
		}
		defer file.Close()
		in = file
	}
	store, err := dbEngines[cfg.Database.Engine].open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.Database, err)
	}
	defer store.Close()
	caps := password.DefaultCaps
	caps.BcryptCost = max(caps.BcryptCost, cfg.BcryptCost) // keel's own hashes always come back in
	rep, err := transfer.Import(ctx, store, in, transfer.ImportOptions{Keys: keys, TripKey: trip, Firebase: fb, Caps: caps,
		Now: time.Now})
	for _, e := range rep.Failed {
		fmt.Fprintf(stdout, "refused %v\n", e)
	}
	for _, e := range rep.Notes {
		fmt.Fprintf(stdout, "note %v\n", e)
	}
	ids := "new ids (keel has or had accounts)"
	if rep.KeptIDs {
		ids = "their ids kept (keel never had an account)"
	}
	fmt.Fprintf(stdout, "imported %d accounts with %s; %d already there by external_id; %d lines refused\n",
		rep.Created, ids, rep.Existing, len(rep.Failed))
	if err != nil {
		return fmt.Errorf("users import: %w", err)
	}
	if len(rep.Failed) > 0 {
		return fmt.Errorf("users import: %d lines refused (each imported nothing; the others are in)", len(rep.Failed))
	}
	return nil
}
