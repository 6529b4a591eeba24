package recovery

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka/kafkatest"
)

// script writes an executable shell script standing in for bin/tagstream.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-tagstream")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The baseline counts exactly the records produced, across every
// partition, and nothing of the empty served tables beside them.
func TestBareReadCountsEveryRecordProduced(t *testing.T) {
	c := kafkatest.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := Options{Cluster: c}
	o.defaults()
	ns, drop := o.namespace("test")
	defer drop()
	if err := c.EnsureTopics(ctx, ns.Gen(0).APITopics()); err != nil {
		t.Fatal(err)
	}
	const n = 5000
	if err := produceCounts(ctx, c, ns, n); err != nil {
		t.Fatal(err)
	}
	read, took, err := BareRead(ctx, c, ns.Gen(0).Served()...)
	if err != nil {
		t.Fatal(err)
	}
	if read != n || took <= 0 {
		t.Fatalf("bare read: %d records in %s, want %d", read, took, n)
	}
}

// An API that never turns ready, or exits, fails the measurement (with
// the process log named) instead of giving a time.
func TestAPIRecoveryFailsWhenTheAPIIsNeverReady(t *testing.T) {
	c := kafkatest.Cluster(t)
	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "recovering", http.StatusServiceUnavailable)
	}))
	defer never.Close()
	for _, tc := range []struct{ name, body, want string }{
		{"not ready", "echo 'tagstream api listening on " + never.URL + "'\nexec sleep 600", "api not ready"},
		{"exits", "echo 'no Kafka' >&2\nexit 3", "api exited before listening"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Cluster: c, Tagstream: script(t, tc.body), Dir: t.TempDir(), Timeout: 3 * time.Second}
			start := time.Now()
			_, err := APIRecovery(context.Background(), o, 100)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "api.log") {
				t.Fatalf("APIRecovery: %v, want an error saying %q and naming the log", err, tc.want)
			}
			if time.Since(start) > 2*time.Minute {
				t.Fatalf("took %s to fail", time.Since(start))
			}
		})
	}
}

// The real API over a small table: ready means its view has every row,
// so the time is positive, the page of the last row answers (APIRecovery
// checks its count) and the process's usage was read.
func TestAPIRecoveryOfASmallTable(t *testing.T) {
	c := kafkatest.Cluster(t)
	bin := filepath.Join(t.TempDir(), "tagstream")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/tagstream/tagstream/cmd/tagstream").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	o := Options{Cluster: c, Tagstream: bin, Dir: t.TempDir(), Timeout: 2 * time.Minute}
	r, err := APIRecovery(context.Background(), o, 3000)
	if err != nil {
		t.Fatal(err)
	}
	if r.Records != 3000 || r.Seconds <= 0 || r.BareSeconds <= 0 || r.PeakRSSMiB <= 0 {
		t.Fatalf("row %+v", r)
	}
}
