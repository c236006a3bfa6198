package server

import (
	"context"
	"log/slog"
	"time"
)

// RunEvery calls fn every interval until ctx ends. Runs never overlap: the
// next one starts only after the last returns, and ticks missed meanwhile are
// dropped. A failing run is logged and the next one still runs. RunEvery
// returns when ctx ends, after any run in progress.
func RunEvery(ctx context.Context, interval time.Duration, log *slog.Logger, name string, fn func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			log.LogAttrs(ctx, slog.LevelError, "job failed", slog.String("job", name), slog.Any("err", err))
			continue
		}
		log.LogAttrs(ctx, slog.LevelDebug, "job done", slog.String("job", name),
			slog.Float64("ms", float64(time.Since(start).Microseconds())/1000))
	}
}

// RunJobs runs keel's scheduled jobs until ctx ends: count-users every
// JOB_INTERVAL, counted in the metrics.
func (s *Server) RunJobs(ctx context.Context) {
	RunEvery(ctx, s.cfg.JobInterval, s.log, "count-users", func(ctx context.Context) error {
		err := s.CountUsers(ctx)
		if ctx.Err() == nil {
			s.metrics.observeJob("count-users", err)
		}
		return err
	})
}

// CountUsers is keel's scheduled job: it counts the users and logs the count.
func (s *Server) CountUsers(ctx context.Context) error {
	n, err := s.store.CountUsers(ctx)
	if err != nil {
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "users counted", slog.String("job", "count-users"), slog.Int64("users", n))
	return nil
}
