package token

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// LoadSecret returns the signing secret: set (JWT_SECRET) when not empty,
// else the one kept in dir/jwt_secret, which it creates (random, mode 0600)
// on first start so that `make run` needs no setup and tokens survive
// restarts.
func LoadSecret(set []byte, dir string, log *slog.Logger) ([]byte, error) {
	if len(set) > 0 {
		return set, nil
	}
	return LoadFileSecret(filepath.Join(dir, "jwt_secret"), "JWT_SECRET", log)
}

// LoadFileSecret returns the secret kept in the file at path, which it
// creates (random, mode 0600) when there is none, warning that the setting
// name would be better set.
func LoadFileSecret(path, name string, log *slog.Logger) ([]byte, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		s := strings.TrimSpace(string(b))
		if len(s) < MinSecretLen {
			return nil, fmt.Errorf("%s: secret shorter than %d bytes; delete the file to make a new one or set %s", path, MinSecretLen, name)
		}
		if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 {
			// Made 0600; a copy or a chmod opened it (a backup restored
			// as another user's, say).
			log.Warn(name+" is kept in a file readable by others than its owner: chmod 600 it, or set "+name,
				slog.String("path", path), slog.String("mode", info.Mode().Perm().String()))
		}
		return []byte(s), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	s := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	log.Warn(name+" is not set: generated a random secret and kept it for next time; set "+name+" in production",
		slog.String("path", path))
	return []byte(s), nil
}
