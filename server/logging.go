package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// logRequests gives every request an id (the client's X-Request-Id when it is
// a sane one), and when it is done counts it in the metrics and logs one line:
// method, route, status, latency, request id and the client's address (the
// peer's, or X-Forwarded-For's behind TRUSTED_PROXIES, as the rate limit sees
// it). It never logs bodies, query strings or headers, which may hold
// passwords or tokens. Not Echo's RequestID and RequestLogger: RequestID
// takes the client's X-Request-Id as sent (a forged id could forge log
// lines), and one middleware here does the id, the line and the metrics.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		req := c.Request()
		id := req.Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)

		if err := next(c); err != nil {
			c.Error(err)
		}

		took := time.Since(start)
		route := c.Path()
		if route == "" {
			route = "(unmatched)"
		}
		status := c.Response().Status
		s.metrics.observeRequest(route, req.Method, status, took)
		if ctx, h := req.Context(), s.log.Handler(); h.Enabled(ctx, slog.LevelInfo) {
			// A record of its own rather than s.log.LogAttrs, which would
			// look up the caller's program counter for a source location
			// keel never logs.
			r := slog.NewRecord(start.Add(took), slog.LevelInfo, "request", 0)
			r.AddAttrs(
				slog.String("method", req.Method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Float64("latency_ms", float64(took.Microseconds())/1000),
				slog.String("request_id", id),
				slog.String("client_ip", c.RealIP()),
			)
			_ = h.Handle(ctx, r) // as slog.Logger: a line that cannot be written is dropped
		}
		return nil
	}
}

// validRequestID accepts ids of up to 128 characters from a safe set, so a
// client's id cannot forge log lines or bloat them.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

var (
	// requestIDPrefix is random per process; requestIDSeq makes ids unique
	// within it without a random read per request.
	requestIDPrefix = func() string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:])
	}()
	requestIDSeq atomic.Uint64
)

// newRequestID is the prefix, "-" and the next number, in one allocation.
func newRequestID() string {
	var b [40]byte // 16 hex digits, "-", at most 20 decimal ones
	id := append(append(b[:0], requestIDPrefix...), '-')
	return string(strconv.AppendUint(id, requestIDSeq.Add(1), 10))
}
