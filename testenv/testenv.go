// Package testenv decides, in one place, what a test does when something it
// needs from outside the module is missing: a real Kafka, Cassandra or S3
// server.
//
// Run bare (`go test ./...`), such a test skips with a message naming what
// to set. Under `make test`, which starts every service and sets
// TAGSTREAM_NO_SKIP=1, it fails instead: a green `make test` means every
// test ran.
package testenv

import (
	"os"
	"testing"
	"time"
)

// NoSkip is the variable `make test` sets so that no test may skip.
const NoSkip = "TAGSTREAM_NO_SKIP"

// Skip skips the test with why, or fails it when NoSkip is set.
func Skip(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv(NoSkip) != "" {
		tb.Fatalf("%s (%s is set: under make test no test may skip)", why, NoSkip)
	}
	tb.Skip(why)
}

// Get returns the value of the environment variable name, skipping the
// test (or failing it under make test) when it is unset.
func Get(tb testing.TB, name, what string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		Skip(tb, "set "+name+" to run this test against "+what)
	}
	return v
}

// Await polls cond every 50 ms, escalating to 500 ms, until it holds, and
// fails the test naming what it waited for if it does not within limit.
// It is how tests wait for something that happens in another process:
// never a fixed sleep.
func Await(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	wait := 50 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited %s for %s in vain", limit, what)
		}
		time.Sleep(wait)
		wait = min(2*wait, 500*time.Millisecond)
	}
}
