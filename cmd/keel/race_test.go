//go:build race

package main

// raceDetector says the tests (and the keel replicas they run, which are
// this test binary) are built with -race, which makes them several times
// slower: timing bounds that are the product's promise on a normal build
// (BENCH.md measures those) get slack under it.
const raceDetector = true
