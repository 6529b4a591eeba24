package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/snapshot"
	"github.com/tagstream/tagstream/testenv"
)

// `tagstream snapshot` without a reachable Cassandra is alive but not
// ready, says why, and shows it in its metrics.
func TestSnapshotProcessReportsCassandraDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Snapshot(ctx, SnapshotOptions{
			// Nothing listens on port 1: every connection is refused.
			Snapshot: snapshot.Config{Cassandra: []string{"127.0.0.1:1"}, Brokers: []string{"127.0.0.1:1"},
				Timeout: 200 * time.Millisecond, RetryMin: 50 * time.Millisecond},
			HTTP:      "127.0.0.1:0",
			Listening: func(a string) { ready <- [2]string{"", a} },
		})
	}()
	var addr string
	select {
	case a := <-ready:
		addr = "http://" + a[1]
	case err := <-done:
		cancel()
		t.Fatalf("snapshot process stopped: %v", err)
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("snapshot process: %v", err)
		}
	}()
	if resp, b := do(t, http.MethodGet, addr+"/healthz", "", ""); resp.StatusCode != 200 {
		t.Fatalf("healthz: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, http.MethodGet, addr+"/readyz", "", ""); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "snapshot") {
		t.Fatalf("readyz with Cassandra down: %d %s", resp.StatusCode, b)
	}
	if resp, b := do(t, http.MethodGet, addr+"/metrics", "", ""); resp.StatusCode != 200 || !strings.Contains(string(b), "tagstream_snapshot_healthy 0") {
		t.Fatalf("metrics: %d %s", resp.StatusCode, b)
	}
}

// A stateless API whose Cassandra is down starts anyway and answers 503
// until it is back, instead of exiting.
func TestAPISourceCassandraStartsWhileCassandraIsDown(t *testing.T) {
	// Nothing listens on port 1: every connection is refused.
	addr, done := startCassandraAPI(t, snapshot.Config{Cassandra: []string{"127.0.0.1:1"}, Timeout: 200 * time.Millisecond})
	awaitNotReady(t, addr, "cassandra")
	if resp, body := do(t, http.MethodGet, addr+"/v1/hashtags/x", "", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("page with Cassandra down: %d %s", resp.StatusCode, body)
	}
	select {
	case err := <-done:
		t.Fatalf("the API exited: %v", err)
	default:
	}
}

// startCassandraAPI starts `api --source cassandra` on an embedded broker
// and returns its base URL and the channel of its end.
func startCassandraAPI(t *testing.T, snap snapshot.Config) (string, chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	b, err := broker.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	go func() {
		done <- ignoreCanceled(API(ctx, APIOptions{Cluster: kafka.Cluster{Brokers: []string{b.Addr()}, Partitions: 3},
			HTTP: "127.0.0.1:0", API: api.Config{Secret: testSecret}, Source: SourceCassandra, Media: MediaOptions{KeysDir: t.TempDir()},
			Snapshot: snap, Listening: func(a string) { ready <- [2]string{b.Addr(), a} }}))
	}()
	select {
	case a := <-ready:
		t.Cleanup(func() { cancel(); <-done })
		return "http://" + a[1], done
	case err := <-done:
		cancel()
		t.Fatalf("the API exited at start: %v", err)
	}
	return "", nil
}

// awaitNotReady waits until the API's /readyz answers 503 saying why.
func awaitNotReady(t *testing.T, addr, why string) {
	t.Helper()
	var last string
	testenv.Await(t, 30*time.Second, "readyz saying "+why, func() bool {
		resp, body := do(t, http.MethodGet, addr+"/readyz", "", "")
		last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), why)
	})
	t.Logf("readyz: %s", last)
}
