package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit are set at build time by `make build`
// (-ldflags "-X main.version=… -X main.commit=…").
var version, commit string

// versionString is what `keel version` prints. Without ldflags it falls back
// to what the Go toolchain recorded in the binary.
func versionString() string {
	v, c := version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" && len(s.Value) >= 12 {
				c = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	// Without a tag, `make build`'s version is the commit itself: say it once.
	if strings.HasPrefix(v, c) || strings.HasPrefix(c, strings.TrimSuffix(v, "-dirty")) {
		return fmt.Sprintf("keel %s (%s %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return fmt.Sprintf("keel %s (commit %s, %s %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
