package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/keelhq/keel/internal/contract"
)

// spec is the contract the real binary's answers are checked against.
var spec = func() *contract.Validator {
	v, err := contract.New()
	if err != nil {
		panic(err)
	}
	return v
}()

// checkedClient is an http.Client over base (http.DefaultTransport when nil)
// that checks every response against the spec and reports any that is off
// it, or a 500, to t.
func checkedClient(t testing.TB, timeout time.Duration, base http.RoundTripper) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &contract.Transport{V: spec, Base: base, Fail: t.Errorf}}
}
