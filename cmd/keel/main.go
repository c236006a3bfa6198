// Command keel serves the keel API: see README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/joho/godotenv"

	"github.com/keelhq/keel/server"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "keel:", err)
		os.Exit(1)
	}
}

// run is the whole program, so tests can call it with their own arguments,
// environment and output. It returns when ctx ends or on SIGINT/SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	getenv, err := withDotEnv(".env", getenv)
	if err != nil {
		return err
	}
	cfg, err := server.LoadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := server.NewLogger(stdout, cfg.LogFormat, cfg.LogLevel)

	switch cmd := firstArg(args); cmd {
	case "", "serve":
		return serve(ctx, cfg, log)
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// withDotEnv reads a .env file when there is one, as dotenv does: variables
// already set in the environment win over the file.
func withDotEnv(path string, getenv func(string) string) (func(string) string, error) {
	file, err := godotenv.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return getenv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return func(name string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return file[name]
	}, nil
}

// serve runs the API until ctx ends, then shuts down in order: stop accepting
// and let in-flight requests finish, say goodbye to WebSockets, stop the job,
// close the database.
func serve(ctx context.Context, cfg server.Config, log *slog.Logger) error {
	store, err := server.OpenStore(ctx, cfg.DatabasePath)
	if err != nil {
		return fmt.Errorf("database %s: %w", cfg.DatabasePath, err)
	}
	defer store.Close()

	cfg.JWTSecret, err = server.LoadSecret(cfg, filepath.Dir(cfg.DatabasePath), log)
	if err != nil {
		return err
	}
	api := server.New(cfg, log, store, server.Options{})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR=%q: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	jobCtx, stopJob := context.WithCancel(context.WithoutCancel(ctx))
	jobDone := make(chan struct{})
	go func() {
		defer close(jobDone)
		server.RunEvery(jobCtx, cfg.JobInterval, log, "count-users", api.CountUsers)
	}()
	defer func() { stopJob(); <-jobDone }()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("database", cfg.DatabasePath))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	log.Info("shutting down", slog.Duration("timeout", cfg.ShutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("in-flight requests cut off at the shutdown deadline", slog.Any("err", err))
		srv.Close()
	}
	if err := api.Close(shutdownCtx); err != nil {
		log.Warn("WebSockets still open at the shutdown deadline", slog.Any("err", err))
	}
	stopJob()
	<-jobDone
	log.Info("stopped")
	return nil
}
