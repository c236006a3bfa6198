package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium is the browser's path; without one the browser tests skip,
// except in CI (CI=true), where a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium on PATH (chromium, chromium-browser, google-chrome); CI must install it")
	}
	t.Skip("no Chromium on PATH; install chromium to run the browser tests")
	return ""
}

// newBrowser starts headless Chromium (chromePath) for the life of ctx and
// returns its context, and report: where the browser is, what the page
// shows, its console and uncaught exceptions, and keel's log (k), for a
// failure's message. The browser starts here, bounded by ctx only: a
// shorter timeout on the first call would bound the browser's whole life
// (see chromedp.Run).
func newBrowser(ctx context.Context, t *testing.T, chromePath string, k *proc) (bctx context.Context, report func() string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromePath),
		chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox refuses to start
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	var (
		mu      sync.Mutex
		console []string
	)
	if err := chromedp.Listen(bctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			line = string(ev.Type) + ":"
			for _, a := range ev.Args {
				line += " " + string(a.Value) + a.Description
			}
		case *runtime.EventExceptionThrown:
			line = (&chromedp.ExceptionError{ExceptionDetails: ev.ExceptionDetails}).Error()
		default:
			return
		}
		mu.Lock()
		defer mu.Unlock()
		console = append(console, line)
	}); err != nil {
		t.Fatalf("start Chromium (%s): %v", chromePath, err)
	}
	report = func() string {
		rctx, cancel := context.WithTimeout(bctx, 3*time.Second)
		defer cancel()
		where, _ := chromedp.Run(rctx, chromedp.Location())
		text, _ := chromedp.Run(rctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		mu.Lock()
		defer mu.Unlock()
		return "browser at " + where + "\npage:\n" + text + "\nconsole:\n" + strings.Join(console, "\n") +
			"\nkeel's log:\n" + k.stdout.String() + k.stderr.String()
	}
	return bctx, report
}
