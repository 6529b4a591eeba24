// Package runtest runs `tagstream run` inside a test, for the end-to-end
// tests that put something real in front of it (a browser, an edge).
package runtest

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/pipeline"
)

// Start runs `tagstream run` with o in this process until the test ends,
// with secret and 3 partitions, the broker on a free loopback port and the
// API on o.HTTP (a free loopback port if empty), and returns the API's
// base URL once it listens, and stop, which stops it and waits (the test's
// cleanup calls it too). The test fails if the run stops with an error, or
// does not listen within a minute.
func Start(t testing.TB, o pipeline.EmbeddedOptions, secret []byte) (base string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	if o.HTTP == "" {
		o.HTTP = "127.0.0.1:0"
	}
	o.KafkaListen, o.Out = "127.0.0.1:0", io.Discard
	o.Cluster = kafka.Cluster{Partitions: 3}
	o.Ready = func(_, h string) { ready <- "http://" + h }
	o.API.Secret = secret
	go func() { done <- pipeline.Embedded(ctx, o) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tagstream run: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case base = <-ready:
		return base, stop
	case err := <-done:
		stopped = true
		t.Fatalf("tagstream run stopped: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("tagstream run not listening in a minute")
	}
	return "", stop
}
