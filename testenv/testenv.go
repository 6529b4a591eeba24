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
