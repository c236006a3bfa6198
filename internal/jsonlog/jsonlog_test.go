package jsonlog

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"regexp"
	"testing"
	"time"
)

// pair logs the same records through Handler and slog.JSONHandler.
func pair(opts *slog.HandlerOptions) (fast, std *slog.Logger, fastOut, stdOut *bytes.Buffer) {
	fastOut, stdOut = new(bytes.Buffer), new(bytes.Buffer)
	return slog.New(New(fastOut, opts)), slog.New(slog.NewJSONHandler(stdOut, opts)), fastOut, stdOut
}

var strs = []string{
	"", "plain", `quote " and backslash \`, "new\nline\r\ttab", "\x00\x01\x1f\x7f",
	"<html> & 'amp'", "ünïcödé ✓ 🎉", "bad utf-8 \xff\xfe end", "\xc3", "line\u2028para\u2029sep",
	"\u00a0\ufeff", "trailing \\",
}

var floats = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.123, 1.5e-7, 1e-6, 9.99e-7, 1e20, 1e21, 123456789.125,
	math.MaxFloat64, math.SmallestNonzeroFloat64, -2.5e-9, math.NaN(), math.Inf(1), math.Inf(-1),
}

var times = []time.Time{
	time.Date(2026, 12, 5, 22, 33, 4, 119932819, time.UTC),
	time.Date(2026, 12, 5, 22, 33, 4, 0, time.FixedZone("X", -5*3600-30*60)),
	time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
	time.Now(), // with a monotonic reading
}

// randomAttr is an attribute of any kind, mostly ones the fast path formats.
func randomAttr(r *rand.Rand) slog.Attr {
	key := strs[r.IntN(len(strs))]
	switch r.IntN(12) {
	case 0:
		return slog.Int64(key, r.Int64()-r.Int64())
	case 1:
		return slog.Uint64(key, r.Uint64())
	case 2:
		return slog.Float64(key, floats[r.IntN(len(floats))])
	case 3:
		return slog.Float64(key, r.NormFloat64()*math.Pow(10, float64(r.IntN(50)-25)))
	case 4:
		return slog.Bool(key, r.IntN(2) == 0)
	case 5:
		return slog.Duration(key, time.Duration(r.Int64N(1e12)))
	case 6:
		return slog.Time(key, times[r.IntN(len(times))])
	case 7:
		return slog.Any(key, errors.New(strs[r.IntN(len(strs))]))
	case 8:
		return slog.Group(key, slog.String("in", "group"))
	case 9:
		return slog.Any(key, []int{1, 2})
	case 10:
		return slog.Attr{} // empty: slog leaves it out
	default:
		return slog.String(key, strs[r.IntN(len(strs))])
	}
}

// TestSameAsJSONHandler: random records come out byte for byte as
// slog.JSONHandler writes them, at every level and with every option.
func TestSameAsJSONHandler(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	optss := []*slog.HandlerOptions{
		nil,
		{Level: slog.LevelDebug},
		{Level: slog.LevelWarn},
		{AddSource: true},
		{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}},
	}
	ctx := context.Background()
	for _, opts := range optss {
		fast, std, fastOut, stdOut := pair(opts)
		for range 3000 {
			tm := times[r.IntN(len(times))]
			if r.IntN(10) == 0 {
				tm = time.Time{}
			}
			level := slog.Level(r.IntN(16) - 6)
			msg := strs[r.IntN(len(strs))]
			attrs := make([]slog.Attr, r.IntN(9))
			for i := range attrs {
				attrs[i] = randomAttr(r)
			}
			for _, l := range []*slog.Logger{fast, std} {
				if !l.Enabled(ctx, level) {
					continue
				}
				rec := slog.NewRecord(tm, level, msg, 0)
				rec.AddAttrs(attrs...)
				if err := l.Handler().Handle(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(fastOut.Bytes(), stdOut.Bytes()) {
				t.Fatalf("opts %+v:\n got %s\nwant %s", opts, fastOut, stdOut)
			}
			fastOut.Reset()
			stdOut.Reset()
		}
	}
}

// TestWithAttrsAndGroups: derived loggers write as slog.JSONHandler does.
func TestWithAttrsAndGroups(t *testing.T) {
	t.Parallel()
	fast, std, fastOut, stdOut := pair(nil)
	for _, l := range []*slog.Logger{fast, std} {
		l.With("component", "jobs").Info("started", "n", 3)
		l.WithGroup("g").Info("grouped", slog.Float64("f", 0.5))
		l.Info("plain", "latency_ms", 0.218, "err", errors.New("boom"))
	}
	// The loggers stamp their own times.
	noTime := regexp.MustCompile(`"time":"[^"]*",`)
	if got, want := noTime.ReplaceAllString(fastOut.String(), ""), noTime.ReplaceAllString(stdOut.String(), ""); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

// FuzzString: any message and string attribute is quoted as slog quotes it.
func FuzzString(f *testing.F) {
	for _, s := range strs {
		f.Add(s, 0.5)
	}
	f.Fuzz(func(t *testing.T, s string, x float64) {
		fast, std, fastOut, stdOut := pair(nil)
		tm := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
		for _, l := range []*slog.Logger{fast, std} {
			rec := slog.NewRecord(tm, slog.LevelInfo, s, 0)
			rec.AddAttrs(slog.String(s, s), slog.Float64("x", x))
			_ = l.Handler().Handle(context.Background(), rec)
		}
		if fastOut.String() != stdOut.String() {
			t.Fatalf("got %s\nwant %s", fastOut, stdOut)
		}
	})
}

// The request line keel logs, through each handler.
func BenchmarkRequestLine(b *testing.B) {
	for name, h := range map[string]slog.Handler{
		"jsonlog": New(io.Discard, nil),
		"slog":    slog.NewJSONHandler(io.Discard, nil),
	} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
				r.AddAttrs(slog.String("method", "GET"), slog.String("route", "/profile"),
					slog.Int("status", 200), slog.Float64("latency_ms", 0.123),
					slog.String("request_id", "dfd412ca6af4834f-1"), slog.String("client_ip", "127.0.0.1"))
				_ = h.Handle(ctx, r)
			}
		})
	}
}
